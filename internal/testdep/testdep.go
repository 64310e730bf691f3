// Package testdep holds the project's rule for a test's external
// dependencies (a Debian package, an npm module, a server): missing, the
// test fails under CI=true, where .ci/run installs it, and is skipped
// elsewhere with a message saying what to install.
package testdep

import (
	"os"
	"testing"
)

// Require applies the rule: nothing happens when ok; otherwise the test
// fails (CI=true) or is skipped, naming what is missing.
func Require(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing test dependency: %s (CI=true, so this is a failure; .ci/run installs it)", what)
	}
	t.Skipf("skipping: missing test dependency: %s (with CI=true this test would fail)", what)
}
