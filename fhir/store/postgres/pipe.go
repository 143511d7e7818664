package postgres

import (
	"context"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipe is the connection of one Store.Transaction. Its BEGIN, and the
// writes whose outcome the caller does not need at once (queued with
// later), are not sent on their own: they travel in one pipelined batch
// with the next statement whose answer is needed, or with the COMMIT,
// instead of taking a round trip each.
//
// A queued write runs in order with everything else, before any later
// statement of the transaction, so what follows sees it; only its error
// (and a check of its row count) is reported later, by the call that
// sends it — at the latest Commit, so the transaction fails and rolls
// back as a whole, as it would have.
type pipe struct {
	conn    *pgxpool.Conn
	begun   bool
	pending []queued
}

// queued is a write waiting for the next round trip.
type queued struct {
	sql  string
	args []any
	// check, when set, judges the write's command tag. A write with a
	// check is sent before COMMIT, not with it: a check that fails must
	// stop the commit.
	check func(pgconn.CommandTag) error
	// mapErr, when set, turns the write's error into the caller's (a
	// unique violation into a duplicate). An error aborts the
	// transaction in PostgreSQL itself, so such a write may go with
	// COMMIT, which then rolls back.
	mapErr func(error) error
}

// deferrer is a connection that can queue writes (a pipe).
type deferrer interface {
	later(w queued)
}

// later queues a write for the next round trip.
func (p *pipe) later(w queued) { p.pending = append(p.pending, w) }

// execLater runs a write on db: queued when db is a pipe, at once
// otherwise (checked either way).
func execLater(ctx context.Context, db dbtx, check func(pgconn.CommandTag) error, sql string, args ...any) error {
	if d, ok := db.(deferrer); ok {
		d.later(queued{sql: sql, args: args, check: check})
		return nil
	}
	tag, err := db.Exec(ctx, sql, args...)
	if err == nil && check != nil {
		err = check(tag)
	}
	return err
}

// batchArgs drops a leading pgx.QueryExecMode, which a batch does not
// take (querier passes one); batches use the connection's default, the
// statement cache, which is the mode querier asks for.
func batchArgs(args []any) []any {
	if len(args) > 0 {
		if _, ok := args[0].(pgx.QueryExecMode); ok {
			return args[1:]
		}
	}
	return args
}

// send sends BEGIN (the first time), the queued writes and then what add
// queues, in one batch, and reads the results of BEGIN and the writes:
// the batch is left at add's first result. On an error the batch is
// closed.
func (p *pipe) send(ctx context.Context, add func(b *pgx.Batch)) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	if !p.begun {
		b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	}
	for _, w := range p.pending {
		b.Queue(w.sql, batchArgs(w.args)...)
	}
	add(b)
	ws := p.pending
	p.pending = nil
	br := p.conn.SendBatch(ctx, b)
	if !p.begun {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, err
		}
		p.begun = true
	}
	for _, w := range ws {
		tag, err := br.Exec()
		if err != nil && w.mapErr != nil {
			err = w.mapErr(err)
		}
		if err == nil && w.check != nil {
			err = w.check(tag)
		}
		if err != nil {
			br.Close()
			return nil, err
		}
	}
	return br, nil
}

// direct reports whether a statement can go on its own: nothing is
// waiting to travel with it.
func (p *pipe) direct() bool { return p.begun && len(p.pending) == 0 }

func (p *pipe) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if p.direct() {
		return p.conn.Exec(ctx, sql, args...)
	}
	br, err := p.send(ctx, func(b *pgx.Batch) { b.Queue(sql, batchArgs(args)...) })
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	return tag, errors.Join(err, br.Close())
}

func (p *pipe) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if p.direct() {
		return p.conn.Query(ctx, sql, args...)
	}
	br, err := p.send(ctx, func(b *pgx.Batch) { b.Queue(sql, batchArgs(args)...) })
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, errors.Join(err, br.Close())
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (p *pipe) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := p.Query(ctx, sql, args...)
	return &pipeRow{rows: rows, err: err}
}

// SendBatch sends b after BEGIN and the queued writes have gone.
func (p *pipe) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if !p.direct() {
		br, err := p.send(ctx, func(*pgx.Batch) {})
		if err == nil {
			err = br.Close()
		}
		if err != nil {
			return errBatch{err}
		}
	}
	return p.conn.SendBatch(ctx, b)
}

// commit sends the queued writes and COMMIT together. A transaction
// that never sent a statement has nothing to commit; one that is a single
// queued write and nothing else sends that write alone.
func (p *pipe) commit(ctx context.Context) error {
	if !p.begun && len(p.pending) == 0 {
		return nil
	}
	if !p.begun && len(p.pending) == 1 && p.pending[0].check == nil {
		// One write and nothing else (a Store-level Create): the
		// statement is its own transaction, without a BEGIN and a COMMIT
		// to send and run.
		w := p.pending[0]
		p.pending = nil
		_, err := p.conn.Exec(ctx, w.sql, w.args...)
		if err != nil && w.mapErr != nil {
			err = w.mapErr(err)
		}
		return err
	}
	if slices.ContainsFunc(p.pending, func(w queued) bool { return w.check != nil }) {
		br, err := p.send(ctx, func(*pgx.Batch) {})
		if err == nil {
			err = br.Close()
		}
		if err != nil {
			return err
		}
	}
	br, err := p.send(ctx, func(b *pgx.Batch) { b.Queue("COMMIT") })
	if err != nil {
		return err
	}
	tag, err := br.Exec()
	if err = errors.Join(err, br.Close()); err != nil {
		return err
	}
	if tag.String() != "COMMIT" {
		// PostgreSQL answers COMMIT of a failed transaction with ROLLBACK.
		return errors.New("postgres: the transaction was rolled back")
	}
	return nil
}

// rollback ends a transaction that sent BEGIN, dropping queued writes. A
// connection left inside a transaction is not reused by the pool.
func (p *pipe) rollback(ctx context.Context) {
	p.pending = nil
	if p.begun {
		_, _ = p.conn.Exec(ctx, "ROLLBACK")
	}
}

// batchRows are the rows of a batch's last query; closing them (or
// reading them to the end) closes the batch, so the connection is free.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.br.Close()
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// pipeRow is QueryRow's row: the first row of Query, then closed.
type pipeRow struct {
	rows pgx.Rows
	err  error
}

func (r *pipeRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// errBatch is a batch that failed before it was sent.
type errBatch struct{ err error }

func (e errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, e.err }
func (e errBatch) Query() (pgx.Rows, error)         { return nil, e.err }
func (e errBatch) QueryRow() pgx.Row                { return &pipeRow{err: e.err} }
func (e errBatch) Close() error                     { return e.err }
func (e errBatch) Tx() pgx.Tx                       { return nil }
