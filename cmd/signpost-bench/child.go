package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/signpost-fhir/signpost/internal/cli"
)

// childGateway is a gateway bench runs as a child process (the signpost
// binary), so that load and gateway do not share a Go runtime.
type childGateway struct {
	cmd *exec.Cmd
	// root is http://127.0.0.1:port; base is the FHIR base under it.
	root, base string
	store      string
	// done closes when the process has exited; waitErr is then set.
	done    chan struct{}
	waitErr error
	logFile *os.File
	logPath string
	// tmpData is a SQLite folder bench made, removed at the end.
	tmpData string

	mu       sync.Mutex
	keep     bool
	stopOnce sync.Once
	stopErr  error
}

// childStopTimeout is the gateway's default shutdown timeout plus a
// margin: past it the child is killed.
const childStopTimeout = 30 * time.Second

// spawnGateway starts `signpost serve` on a free loopback port with the
// store bench was given: PostgreSQL at dbURL, else SQLite in SIGNPOST_DATA,
// else in a temporary folder (so a bench never fills the folder a
// developer's gateway uses by default). Its log goes to a temporary file,
// kept and named only when something went wrong.
func spawnGateway(exe, dbURL string, getenv func(string) string) (*childGateway, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	g := &childGateway{root: "http://" + addr, done: make(chan struct{}), store: "postgres"}
	g.base = g.root + "/fhir"
	dataDir := getenv("SIGNPOST_DATA")
	if dbURL == "" {
		g.store = "sqlite"
		if dataDir == "" {
			if g.tmpData, err = os.MkdirTemp("", "signpost-bench-data-*"); err != nil {
				return nil, err
			}
			dataDir = g.tmpData
		}
	}
	if g.logFile, err = os.CreateTemp("", "signpost-bench-gateway-*.log"); err != nil {
		g.cleanup()
		return nil, err
	}
	g.logPath = g.logFile.Name()
	g.cmd = exec.Command(exe, "serve", "-addr", addr)
	g.cmd.Env = childEnv(os.Environ(), dbURL, dataDir)
	g.cmd.Stdout, g.cmd.Stderr = g.logFile, g.logFile
	detachFromTerminal(g.cmd)
	if err := g.cmd.Start(); err != nil {
		g.cleanup()
		return nil, fmt.Errorf("starting the gateway: %w", err)
	}
	go func() {
		g.waitErr = g.cmd.Wait()
		close(g.done)
	}()
	return g, nil
}

func childEnv(base []string, dbURL, dataDir string) []string {
	return cli.ChildEnv(base, dbURL, dataDir)
}

func freeLoopbackAddr() (string, error) { return cli.FreeLoopbackAddr() }

// keepLog keeps the gateway's log file for the user to read.
func (g *childGateway) keepLog() {
	g.mu.Lock()
	g.keep = true
	g.mu.Unlock()
}

// kept reports whether the log file stays after stop.
func (g *childGateway) kept() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.keep
}

// stop sends SIGTERM, waits for a clean exit (killing the child if it
// does not come), and reports anything but exit status 0. It may be
// called more than once.
func (g *childGateway) stop() error {
	g.stopOnce.Do(func() {
		select {
		case <-g.done:
			g.stopErr = fmt.Errorf("the gateway had already exited: %v", exitDescription(g.waitErr))
		default:
			if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
				g.stopErr = fmt.Errorf("signalling the gateway: %w", err)
			}
			select {
			case <-g.done:
				if g.waitErr != nil {
					g.stopErr = fmt.Errorf("the gateway exited with %v after SIGTERM", exitDescription(g.waitErr))
				}
			case <-time.After(childStopTimeout):
				_ = g.cmd.Process.Kill()
				<-g.done
				g.stopErr = fmt.Errorf("the gateway did not stop within %s of SIGTERM and was killed", childStopTimeout)
			}
		}
		if g.stopErr != nil {
			g.keepLog()
		}
		g.cleanup()
	})
	return g.stopErr
}

func (g *childGateway) cleanup() {
	if g.logFile != nil {
		_ = g.logFile.Close()
		if !g.kept() {
			_ = os.Remove(g.logPath)
		}
	}
	if g.tmpData != "" {
		_ = os.RemoveAll(g.tmpData)
	}
}

func exitDescription(err error) string { return cli.ExitDescription(err) }
