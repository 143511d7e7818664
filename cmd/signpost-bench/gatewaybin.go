package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// gatewayBinary is the signpost binary bench runs: named (-gateway), else
// signpost beside this program (as installed or built together), else on
// PATH, else built from the source tree this is run in (go run
// ./cmd/signpost-bench): the build is put in a temporary folder that
// cleanup removes.
func gatewayBinary(ctx context.Context, named string, progress func(string, ...any)) (path string, cleanup func(), err error) {
	none := func() {}
	if named != "" {
		if _, err := os.Stat(named); err != nil {
			return "", none, usageErr("bench: -gateway: %v", err)
		}
		return named, none, nil
	}
	if exe, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(exe), "signpost")
		if fi, err := os.Stat(beside); err == nil && !fi.IsDir() {
			return beside, none, nil
		}
	}
	if p, err := exec.LookPath("signpost"); err == nil {
		return p, none, nil
	}
	root, ok := moduleRoot()
	if !ok {
		return "", none, errors.New("no signpost binary: name one with -gateway, put it on PATH or beside signpost-bench, or run from the source tree")
	}
	dir, err := os.MkdirTemp("", "signpost-bench-gateway-*")
	if err != nil {
		return "", none, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	out := filepath.Join(dir, "signpost")
	progress("building the gateway from %s/cmd/signpost", root)
	build := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/signpost")
	build.Dir = root
	if msg, err := build.CombinedOutput(); err != nil {
		cleanup()
		return "", none, fmt.Errorf("building the gateway: %v\n%s", err, strings.TrimSpace(string(msg)))
	}
	return out, cleanup, nil
}

// moduleRoot is the Signpost source tree holding the working directory.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			return dir, strings.Contains(string(b), "module github.com/signpost-fhir/signpost\n")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
