//go:build !linux

package main

import "os/exec"

// detachFromTerminal does nothing here: Ctrl-C reaches the child gateway
// too, which then shuts down while bench's last requests finish.
func detachFromTerminal(cmd *exec.Cmd) {}
