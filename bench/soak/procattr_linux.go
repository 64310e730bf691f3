package main

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the child in its own process group, so a Ctrl-C in the
// terminal reaches only the soak tool, which then stops its children in
// order; and has the kernel kill the child if the soak tool dies first.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
