//go:build !linux

package e2e

import "os/exec"

// killWithParent needs Linux's parent-death signal; elsewhere a gateway
// left by a crashed test run must be stopped by hand.
func killWithParent(*exec.Cmd) {}
