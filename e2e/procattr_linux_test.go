package e2e

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill cmd if the test binary dies first
// (a panic or `go test -timeout`), so no gateway outlives its test and
// holds its ports.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
