package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// cluster is a PostgreSQL cluster this binary made with initdb, and its
// server while it runs.
type cluster struct {
	dir, data string
	postgres  string // the server binary
	pgCtl     string // pg_ctl beside it ("" when there is none)
	cred      *syscall.Credential
	port      int
	log       string
	// durable keeps synchronous_commit on, so that a commit the server
	// acknowledged survives an immediate shutdown (a crash of the server,
	// not of the machine: fsync stays off either way).
	durable bool

	mu   sync.Mutex
	proc *os.Process
	done chan struct{} // closed when the server process has exited
}

// newCluster makes a cluster with initdb in a temporary folder and picks a
// free loopback port for it; start runs its server.
func newCluster(ctx context.Context, durable bool) (*cluster, error) {
	initdb, err := findInitdb()
	if err != nil {
		return nil, err
	}
	bin := filepath.Dir(initdb)
	postgres := filepath.Join(bin, "postgres")
	if _, err := os.Stat(postgres); err != nil {
		if postgres, err = exec.LookPath("postgres"); err != nil {
			return nil, fmt.Errorf("found %s but no postgres binary beside it or in PATH", initdb)
		}
	}
	pgCtl := filepath.Join(bin, "pg_ctl")
	if _, err := os.Stat(pgCtl); err != nil {
		if pgCtl, err = exec.LookPath("pg_ctl"); err != nil {
			pgCtl = ""
		}
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.New("running as root, and initdb needs a non-root user, but there is no postgres OS user")
		}
		uid, _ := strconv.ParseUint(pg.Uid, 10, 32)
		gid, _ := strconv.ParseUint(pg.Gid, 10, 32)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	sweepStale()
	dir, err := os.MkdirTemp("", clusterPrefix)
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	c := &cluster{dir: dir, data: filepath.Join(dir, "data"), postgres: postgres, pgCtl: pgCtl, cred: cred,
		log: filepath.Join(dir, "postgres.log"), durable: durable}
	cmd := exec.CommandContext(ctx, initdb, "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, lastLines(string(out), 5))
	}
	if c.port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// url connects to the cluster's postgres database as its superuser.
func (c *cluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// start runs the server (on the cluster's port, tuned for tests) and
// waits until it accepts connections. The server gets the parent-death
// signal, so it goes away with the test binary even if that is killed.
func (c *cluster) start(ctx context.Context) error {
	logf, err := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	if c.cred != nil {
		_ = os.Chown(c.log, int(c.cred.Uid), int(c.cred.Gid))
	}
	commit := "off"
	if c.durable {
		commit = "on"
	}
	srv := exec.Command(c.postgres, "-D", c.data, "-p", strconv.Itoa(c.port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit="+commit,
		"-c", "full_page_writes=off", "-c", "max_connections=500")
	srv.Dir = c.dir
	srv.Stdout, srv.Stderr = logf, logf
	// SIGQUIT is an immediate shutdown: if this binary dies without Main
	// or the test's cleanup running, the server follows it instead of
	// lingering.
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGQUIT}
	done := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the forking thread exits, not
		// the process, so keep that thread pinned to this goroutine, which
		// lives as long as the server.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := srv.Start(); err != nil {
			started <- err
			close(done)
			return
		}
		started <- nil
		_ = srv.Wait()
		close(done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	c.mu.Lock()
	c.proc, c.done = srv.Process, done
	c.mu.Unlock()

	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-done:
			return fmt.Errorf("postgres exited: %s", c.logTail())
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(cctx, c.url())
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within a minute: %v: %s", err, c.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shutdown stops the server with pg_ctl stop -m mode and waits until its
// process has exited.
func (c *cluster) shutdown(mode string) error {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	if done == nil {
		return errors.New("the server is not running")
	}
	if c.pgCtl == "" {
		return errors.New("pg_ctl is not installed beside initdb nor in PATH")
	}
	cmd := exec.Command(c.pgCtl, "stop", "-D", c.data, "-m", mode, "-w", "-t", "60")
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %v: %s", mode, err, lastLines(string(out), 3))
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		return fmt.Errorf("postgres still running a minute after pg_ctl stop -m %s", mode)
	}
	c.mu.Lock()
	c.proc, c.done = nil, nil
	c.mu.Unlock()
	return nil
}

// stop asks for a fast shutdown of a running server, waits for it, and
// removes the folder.
func (c *cluster) stop() error {
	c.mu.Lock()
	proc, done := c.proc, c.done
	c.mu.Unlock()
	if proc != nil {
		_ = proc.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = proc.Kill()
			<-done
		}
	}
	return os.RemoveAll(c.dir)
}

func (c *cluster) logTail() string {
	b, _ := os.ReadFile(c.log)
	return lastLines(string(b), 5)
}

// startCluster makes the shared throwaway cluster and starts it (no fsync
// and no synchronous commit: a crash loses a throwaway database and
// nothing else).
func startCluster(ctx context.Context) (string, error) {
	c, err := newCluster(ctx, false)
	if err != nil {
		return "", err
	}
	clusterMu.Lock()
	running = c
	clusterMu.Unlock()
	if err := c.start(ctx); err != nil {
		return "", err
	}
	return c.url(), nil
}

// Cluster is a PostgreSQL server of one test's own, made with initdb in a
// temporary folder and run on a free loopback port, for tests that stop
// and start the server under a program that uses it. A commit it
// acknowledged survives any of its shutdowns, an immediate one included
// (synchronous_commit is on; fsync is off, so it would not survive a crash
// of the machine). It is stopped and removed when the test ends.
type Cluster struct {
	// URL connects to its postgres database as the superuser postgres.
	URL string
	c   *cluster
}

// NewCluster makes and starts a Cluster. Without initdb, postgres and
// pg_ctl the test is skipped, except under CI=true, where it fails.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := newCluster(ctx, true)
	if err == nil && c.pgCtl == "" {
		_ = os.RemoveAll(c.dir)
		err = errors.New("pg_ctl is not installed beside initdb nor in PATH")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: no private PostgreSQL cluster: %v", err)
		}
		t.Skipf("pgtest: no private PostgreSQL cluster, skipping (install the PostgreSQL server: initdb, postgres, pg_ctl): %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(c.log)
			t.Logf("pgtest: private cluster's server log:\n%s", strings.ReplaceAll(lastLines(string(b), 40), " | ", "\n"))
		}
		if err := c.stop(); err != nil {
			t.Errorf("pgtest: removing the private cluster: %v", err)
		}
	})
	if err := c.start(ctx); err != nil {
		t.Fatalf("pgtest: private cluster: %v", err)
	}
	return &Cluster{URL: c.url(), c: c}
}

// Stop shuts the server down with `pg_ctl stop -m mode` (smart, fast or
// immediate) and returns once its process has exited.
func (c *Cluster) Stop(t testing.TB, mode string) {
	t.Helper()
	if err := c.c.shutdown(mode); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Start starts the stopped server again, on the same port and data, and
// returns once it accepts connections (after crash recovery, when it was
// stopped immediately).
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.c.start(ctx); err != nil {
		t.Fatalf("pgtest: restarting the private cluster: %v", err)
	}
}
