package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// server is the PostgreSQL server the tests of this binary share.
type server struct {
	url    string        // connects as a user allowed to create schemas
	admin  *pgxpool.Pool // creates and drops the per-test schemas
	source string        // where it came from, for messages
}

var (
	once      sync.Once
	shared    *server
	sharedErr error
	// misconfigured marks a DATABASE_URL that is set but unusable: that is
	// a failure everywhere, never a reason to skip.
	misconfigured bool
	logOnce       sync.Once

	clusterMu sync.Mutex
	running   *cluster
)

// URL returns a connection URL for a new, empty schema on the shared
// server, put first in search_path through the URL's options parameter;
// the schema is dropped (with everything in it) when the test ends. Close
// what you opened on it before then (t.Cleanup runs last-in first-out, so
// registering the Close after calling URL is enough).
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() { shared, sharedErr = resolve() })
	if sharedErr != nil {
		if misconfigured || os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: no PostgreSQL: %v", sharedErr)
		}
		t.Skipf("pgtest: no PostgreSQL, skipping (set DATABASE_URL, run a server on 127.0.0.1:5432 or install initdb): %v", sharedErr)
	}
	logOnce.Do(func() { t.Logf("pgtest: using PostgreSQL from %s", shared.source) })
	schema := "pgtest_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := shared.admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema on %s: %v", shared.source, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := shared.admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	u, err := withSearchPath(shared.url, schema)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// Main runs the tests, then stops the throwaway cluster if URL started
// one. Use it from TestMain in any package that calls URL:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.admin.Close()
	}
	clusterMu.Lock()
	defer clusterMu.Unlock()
	if running != nil {
		if err := running.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
		running = nil
	}
	return code
}

// resolve finds the server: DATABASE_URL, a local server, or a new
// cluster (see the package doc).
func resolve() (*server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if u := os.Getenv("DATABASE_URL"); u != "" {
		pool, err := connect(ctx, u)
		if err != nil {
			misconfigured = true
			return nil, fmt.Errorf("DATABASE_URL is set but unusable: %w", err)
		}
		return &server{url: u, admin: pool, source: "DATABASE_URL"}, nil
	}
	var reasons []string
	if os.Getenv("PGTEST_NO_LOCAL") == "" {
		s, err := probeLocal(ctx)
		if err == nil {
			return s, nil
		}
		reasons = append(reasons, err.Error())
	}
	u, err := startCluster(ctx)
	if err != nil {
		reasons = append(reasons, "throwaway cluster: "+err.Error())
		return nil, errors.New(strings.Join(reasons, "; "))
	}
	pool, err := connect(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("throwaway cluster: %w", err)
	}
	return &server{url: u, admin: pool, source: "a throwaway cluster"}, nil
}

const localAddr = "127.0.0.1:5432"

// probeLocal tries the usual users and databases on a local server. A
// quick TCP dial first keeps a machine without one from paying a connect
// timeout per candidate.
func probeLocal(ctx context.Context) (*server, error) {
	c, err := net.DialTimeout("tcp", localAddr, 500*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("nothing answers on %s", localAddr)
	}
	c.Close()
	users := []string{"postgres"}
	if u, err := user.Current(); err == nil && u.Username != "postgres" {
		users = append(users, u.Username)
	}
	var errs []string
	for _, name := range users {
		for _, db := range []string{"test", "postgres"} {
			u := fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable&connect_timeout=2", url.PathEscape(name), localAddr, db)
			pool, err := connect(ctx, u)
			if err == nil {
				return &server{url: u, admin: pool, source: localAddr}, nil
			}
			errs = append(errs, fmt.Sprintf("%s@%s: %v", name, db, err))
		}
	}
	return nil, fmt.Errorf("%s: %s", localAddr, strings.Join(errs, "; "))
}

// connect opens a small pool and checks that it may create schemas.
func connect(ctx context.Context, u string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 4
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var can bool
	if err := pool.QueryRow(ctx, "SELECT has_database_privilege(current_database(), 'CREATE')").Scan(&can); err != nil {
		pool.Close()
		return nil, err
	}
	if !can {
		pool.Close()
		return nil, errors.New("the user may not create schemas in this database")
	}
	return pool, nil
}

// withSearchPath adds "-c search_path=schema" to the URL's options (the
// server's command-line options for the session), which pgx and libpq both
// pass on. A key=value DSN gets an options pair appended, replacing any it
// had.
func withSearchPath(base, schema string) (string, error) {
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		return base + " options='-c search_path=" + schema + "'", nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", errors.New("the server URL does not parse")
	}
	q := u.Query()
	q.Set("options", strings.TrimSpace(q.Get("options")+" -c search_path="+schema))
	// libpq decodes %20 but not '+'; Encode writes a literal '+' as %2B.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b)
}

const clusterPrefix = "pgtest-"

// sweepStale removes the folders of throwaway clusters whose test binary
// was killed before Main could clean up (the server itself went with it,
// through the parent-death signal, and removed its postmaster.pid). A
// folder qualifies when its server was started (the log exists), is not
// running (no postmaster.pid) and has been quiet for a minute, so a
// cluster another test binary is starting right now is never touched.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), clusterPrefix+"*"))
	for _, dir := range dirs {
		log, err := os.Stat(filepath.Join(dir, "postgres.log"))
		if err != nil || time.Since(log.ModTime()) < time.Minute {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "data", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// findInitdb looks in PATH, then where Debian, Ubuntu and the PGDG
// packages put versioned server binaries (newest first).
func findInitdb() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.EvalSymlinks(p)
	}
	var found []string
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin/initdb", "/usr/pgsql-*/bin/initdb", "/usr/local/pgsql/bin/initdb"} {
		m, _ := filepath.Glob(pattern)
		found = append(found, m...)
	}
	if len(found) == 0 {
		return "", errors.New("initdb is not installed (not in PATH nor /usr/lib/postgresql/*/bin)")
	}
	sort.Slice(found, func(i, j int) bool { return versionOf(found[i]) > versionOf(found[j]) })
	return found[0], nil
}

// versionOf is the major version in a path like /usr/lib/postgresql/16/bin.
func versionOf(p string) int {
	for _, part := range strings.Split(p, "/") {
		if n, err := strconv.Atoi(strings.TrimPrefix(part, "pgsql-")); err == nil {
			return n
		}
	}
	return 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
