package e2e

import (
	"os"
	"testing"
)

// requireDep enforces the project's rule for external test dependencies:
// when what is missing (ok is false) the test fails under CI=true, where
// .ci/run is expected to have installed it, and is skipped elsewhere with
// a message saying what to install.
func requireDep(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing test dependency: %s (CI=true, so this is a failure; .ci/run installs it)", what)
	}
	t.Skipf("skipping: missing test dependency: %s (with CI=true this test would fail)", what)
}
