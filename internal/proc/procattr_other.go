//go:build !linux

package proc

import "os/exec"

// setProcAttr does nothing here: only Linux can tie a child's life to its
// parent's. Stop the children on the way out.
func setProcAttr(*exec.Cmd) {}
