//go:build !linux

package main

import "os/exec"

// setProcAttr does nothing here: only Linux can tie a child's life to its
// parent's. An interrupted run still stops its children on the way out.
func setProcAttr(*exec.Cmd) {}
