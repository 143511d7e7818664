package main

import (
	"os/exec"
	"syscall"
)

// detachFromTerminal puts the child gateway in its own process group, so
// Ctrl-C reaches bench alone and bench stops the child with SIGTERM once
// its own clients have stopped; and has the kernel send SIGTERM to the
// child should bench die without doing so.
func detachFromTerminal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
