package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Group commit. Every write of the store (Create, Update, Delete,
// Transaction, Enqueue) is a job for the one writer connection. The jobs
// that arrive while a transaction commits wait, and the next transaction
// runs all of them (up to maxGroup), each inside a SAVEPOINT of its own,
// then commits once: one BEGIN IMMEDIATE, one COMMIT and one fsync of the
// WAL (synchronous=FULL) cover the group, where each write used to pay
// its own. No job is answered before the COMMIT that holds it has
// returned, so an acknowledged write is as durable as before; a job whose
// function fails is rolled back to its savepoint and answered with its
// error, leaving the others of the group untouched. With one job waiting
// (an idle store) it runs alone at once: no write waits for company.
//
// Jobs run one after the other on one connection, in arrival order, so
// each sees the writes of those before it exactly as with one
// transaction per write; the file's write lock is held from BEGIN
// IMMEDIATE to COMMIT, as before, so other processes are serialised the
// same way.
//
// When a group cannot commit as a whole (the COMMIT fails, or a failing
// job took the whole transaction with it, as an interrupted statement
// does in SQLite), no job of it is answered with success: each job that
// had not failed on its own is run again in a transaction of its own and
// answered with that outcome. Job functions may so run twice, which the
// store.Store contract allows (Transaction's fn must have no effects
// outside tx).

// maxGroup bounds how many jobs one transaction holds.
const maxGroup = 64

type writeJob struct {
	ctx  context.Context
	fn   func(tx *wtx) error
	done chan error
	// failed is fn's own error in the group's run (rolled back to its
	// savepoint).
	failed error
}

type writer struct {
	mu      sync.Mutex
	pending []*writeJob
	running bool
	// target, when not zero, is how many pending jobs end a gathering
	// wait; kick tells the gathering writer they are there.
	target int
	kick   chan struct{}
}

// gatherDelay bounds how long a group waits for company: well under the
// commit's own fsync (several milliseconds on a virtual disk).
const gatherDelay = time.Millisecond

// write runs fn in a write transaction, shared with other jobs (see
// above), and returns when that transaction has committed (nil, or fn's
// own error) or failed.
func (s *Store) write(ctx context.Context, fn func(tx *wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	job := &writeJob{ctx: ctx, fn: fn, done: make(chan error, 1)}
	w := &s.writer
	w.mu.Lock()
	w.pending = append(w.pending, job)
	if w.target > 0 && len(w.pending) >= w.target {
		w.target = 0
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	if !w.running {
		w.running = true
		go s.runWriter()
	}
	w.mu.Unlock()
	// Always wait for the outcome: once taken, a job may commit, and its
	// caller must not be told otherwise.
	return <-job.done
}

// runWriter commits groups until nothing is pending. Right after a group
// commits, the writers it answered have not yet sent their next write,
// and a group started at once would hold only the first to come back
// (groups then alternate between one and all of them). So when fewer
// jobs are pending than the last group held, it gathers: it waits until
// as many are pending, or gatherDelay has passed, whichever comes first.
// A lone writer's group is one job, which never waits.
func (s *Store) runWriter() {
	w := &s.writer
	last := 1
	for {
		w.mu.Lock()
		if n := len(w.pending); n > 0 && n < last {
			w.target = last
			w.mu.Unlock()
			t := time.NewTimer(gatherDelay)
			select {
			case <-w.kick:
			case <-t.C:
			}
			t.Stop()
			w.mu.Lock()
			w.target = 0
			select { // a kick sent after the timer fired
			case <-w.kick:
			default:
			}
		}
		n := min(len(w.pending), maxGroup)
		if n == 0 {
			w.running = false
			w.pending = nil
			w.mu.Unlock()
			return
		}
		jobs := w.pending[:n:n]
		w.pending = w.pending[n:]
		w.mu.Unlock()
		s.commitGroup(jobs)
		last = n
	}
}

// commitGroup runs jobs in one transaction and answers each.
func (s *Store) commitGroup(jobs []*writeJob) {
	if len(jobs) == 1 {
		j := jobs[0]
		j.done <- s.runAlone(j)
		return
	}
	err := s.runGroup(jobs)
	if err == nil {
		for _, j := range jobs {
			j.done <- j.failed
		}
		return
	}
	// Nothing of the group committed: each job that did not fail on its
	// own runs again alone.
	for _, j := range jobs {
		if j.failed != nil {
			j.done <- j.failed
			continue
		}
		j.done <- s.runAlone(j)
	}
}

// runAlone runs one job in a transaction of its own.
func (s *Store) runAlone(j *writeJob) error {
	if err := j.ctx.Err(); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(context.WithoutCancel(j.ctx), nil)
	if err != nil {
		return err
	}
	t := s.newWtx(tx)
	if err := t.readChanges(context.WithoutCancel(j.ctx)); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := j.fn(t); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// runGroup runs jobs in one transaction, each in a savepoint, and commits.
// A job's own failure is kept in its failed field; the error returned is
// the group's: when it is not nil, nothing committed.
func (s *Store) runGroup(jobs []*writeJob) error {
	tx, err := s.w.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	t := s.newWtx(tx)
	ctx := context.Background()
	if err := t.readChanges(ctx); err != nil {
		_ = tx.Rollback()
		return err
	}
	for _, j := range jobs {
		j.failed = nil
		if err := j.ctx.Err(); err != nil {
			j.failed = err
			continue
		}
		if _, err := t.ExecContext(ctx, "SAVEPOINT job"); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := j.fn(t); err != nil {
			j.failed = err
			if _, rerr := t.ExecContext(ctx, "ROLLBACK TO job"); rerr != nil {
				// The transaction itself is gone (SQLite rolls back the
				// whole transaction on some errors).
				_ = tx.Rollback()
				return fmt.Errorf("after %w: %w", err, rerr)
			}
		}
		if _, err := t.ExecContext(ctx, "RELEASE job"); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return nil
}

// wtx is a write transaction with the store's prepared statements: a
// statement whose text is one of them runs prepared (on the writer's one
// connection, so it is parsed once per process), any other as given.
type wtx struct {
	tx    *sql.Tx
	prep  map[string]*sql.Stmt
	stmts map[string]*sql.Stmt
	// changes are the change counters as the transaction began
	// (changes.go).
	changes map[string]int64
}

var _ dbtx = (*wtx)(nil)

func (s *Store) newWtx(tx *sql.Tx) *wtx { return &wtx{tx: tx, prep: s.prep} }

// stmt is the transaction's handle on the prepared statement for q, or
// nil.
func (t *wtx) stmt(ctx context.Context, q string) *sql.Stmt {
	p := t.prep[q]
	if p == nil {
		return nil
	}
	if st := t.stmts[q]; st != nil {
		return st
	}
	if t.stmts == nil {
		t.stmts = make(map[string]*sql.Stmt, 16)
	}
	st := t.tx.StmtContext(ctx, p)
	t.stmts[q] = st
	return st
}

func (t *wtx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

func (t *wtx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

func (t *wtx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

// prepareAll prepares the writer's statements, while its connection is
// free (a statement cannot be prepared on it while a transaction holds
// it).
func prepareAll(ctx context.Context, db *sql.DB, qs []string) (map[string]*sql.Stmt, error) {
	out := make(map[string]*sql.Stmt, len(qs))
	for _, q := range qs {
		if _, ok := out[q]; ok {
			continue
		}
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			for _, p := range out {
				p.Close()
			}
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		out[q] = st
	}
	return out, nil
}

// closeAll closes prepared statements.
func closeAll(m map[string]*sql.Stmt) error {
	var errs []error
	for _, st := range m {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}
