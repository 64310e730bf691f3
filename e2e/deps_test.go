package e2e

import (
	"testing"

	"github.com/erpgate/erpgate/internal/testdep"
)

// requireDep enforces the project's rule for external test dependencies
// (internal/testdep): when what is missing (ok is false) the test fails
// under CI=true, where .ci/run is expected to have installed it, and is
// skipped elsewhere with a message saying what to install.
func requireDep(t testing.TB, ok bool, what string) {
	t.Helper()
	testdep.Require(t, ok, what)
}
