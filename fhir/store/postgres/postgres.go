package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Store is the PostgreSQL store. It is safe for concurrent use, and any
// number of processes may share one database.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Option adjusts the pool configuration parsed from the URL before the
// pool is built.
type Option func(*pgxpool.Config)

// WithMaxConns sets the pool size (pgxpool's default is max(4, NumCPU);
// the URL's pool_max_conns parameter does the same).
func WithMaxConns(n int32) Option {
	return func(c *pgxpool.Config) { c.MaxConns = n }
}

// WithPoolConfig gives full access to the pool configuration.
func WithPoolConfig(f func(*pgxpool.Config)) Option { return Option(f) }

// Open connects to the database at url (a postgres:// URL or key=value
// DSN) and applies the embedded migrations.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn redacts the password in its parse errors.
		return nil, fmt.Errorf("postgres: %w", err)
	}
	for _, o := range opts {
		o(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Pool is the store's connection pool, for tools that measure the database
// itself (the load command's raw-insert ceiling). Writing resources through
// it bypasses the store's rules.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close waits for connections in use to be returned, then closes them all.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// dbtx is what the helpers need, satisfied by the pool and by a pgx.Tx, so
// one helper serves a single statement or a step of a transaction.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var (
	_ dbtx = (*pgxpool.Pool)(nil)
	_ dbtx = (pgx.Tx)(nil)
)

// insertSQL writes version 1 of a resource, current row and history row,
// in one statement. ON CONFLICT DO NOTHING makes an id in use (live or
// deleted) insert nothing at all, which the caller reads as "exists".
const insertSQL = `WITH cur AS (
	INSERT INTO resources (type, id, version, last_updated, method, deleted, body)
	VALUES ($1, $2, 1, $3, $4, false, $5)
	ON CONFLICT DO NOTHING
	RETURNING type, id, version, last_updated, method, deleted, body)
INSERT INTO resource_history (type, id, version, last_updated, method, deleted, body)
SELECT type, id, version, last_updated, method, deleted, body FROM cur`

// writeSQL replaces the current row with a new version and records it in
// history, in one statement. The caller holds the row lock.
const writeSQL = `WITH cur AS (
	UPDATE resources SET version = $3, last_updated = $4, method = $5, deleted = $6, body = $7
	WHERE type = $1 AND id = $2
	RETURNING type, id, version, last_updated, method, deleted, body)
INSERT INTO resource_history (type, id, version, last_updated, method, deleted, body)
SELECT type, id, version, last_updated, method, deleted, body FROM cur`

// head is what a write needs to know about the current version.
type head struct {
	version     int64
	lastUpdated time.Time
	deleted     bool
}

// lockHead reads the current version and locks its row until the
// transaction ends; found is false when the resource never existed (then
// nothing is locked: a concurrent creator is caught by the insert).
func lockHead(ctx context.Context, db dbtx, typ, id string) (h head, found bool, err error) {
	err = db.QueryRow(ctx, "SELECT version, last_updated, deleted FROM resources WHERE type = $1 AND id = $2 FOR UPDATE", typ, id).
		Scan(&h.version, &h.lastUpdated, &h.deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return head{}, false, nil
	}
	if err != nil {
		return head{}, false, err
	}
	return h, true, nil
}

// stamp sets r's server-owned elements and encodes it; the bytes returned
// are the bytes stored.
func stamp(r *fhir.Resource, version int64, at time.Time) ([]byte, error) {
	r.Stamp(r.ID(), version, at)
	body, err := r.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode %s/%s: %w", r.Type(), r.ID(), err)
	}
	return body, nil
}

// Create stores r as version 1 in one round trip.
func (s *Store) Create(ctx context.Context, r *fhir.Resource) (store.WriteResult, error) {
	if err := store.CheckResource(r); err != nil {
		return store.WriteResult{}, err
	}
	typ, id := r.Type(), r.ID()
	now := store.Now()
	body, err := stamp(r, 1, now)
	if err != nil {
		return store.WriteResult{}, fmt.Errorf("postgres: create: %w", err)
	}
	tag, err := s.pool.Exec(ctx, insertSQL, typ, id, now, string(store.MethodCreate), body)
	if err != nil {
		return store.WriteResult{}, fmt.Errorf("postgres: create %s/%s: %w", typ, id, err)
	}
	if tag.RowsAffected() == 0 {
		return store.WriteResult{}, fhir.Errorf(fhir.CodeDuplicate, "%s/%s already exists", typ, id)
	}
	return store.WriteResult{
		Version: store.Version{Type: typ, ID: id, VersionID: 1, LastUpdated: now, Method: store.MethodCreate, Body: body},
		Created: true,
	}, nil
}

// errLostCreate means an update as create found no row, but another
// transaction inserted the resource before this one could: the update
// starts again and finds a row to lock.
var errLostCreate = errors.New("a concurrent write created the resource first")

// maxUpdateAttempts bounds those restarts. One is enough in practice: once
// a resource exists its row is never removed (a delete is a version), so
// the second attempt always finds it.
const maxUpdateAttempts = 3

// Update stores r as the next version, or as version 1 when it is new.
func (s *Store) Update(ctx context.Context, r *fhir.Resource, pre store.Precondition) (store.WriteResult, error) {
	if err := store.CheckResource(r); err != nil {
		return store.WriteResult{}, err
	}
	for attempt := 1; ; attempt++ {
		var res store.WriteResult
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			res, err = put(ctx, tx, r, pre)
			return err
		})
		if errors.Is(err, errLostCreate) && attempt < maxUpdateAttempts {
			continue
		}
		if err != nil {
			if _, ok := fhir.AsError(err); ok {
				return store.WriteResult{}, err
			}
			return store.WriteResult{}, fmt.Errorf("postgres: update %s/%s: %w", r.Type(), r.ID(), err)
		}
		return res, nil
	}
}

func put(ctx context.Context, tx dbtx, r *fhir.Resource, pre store.Precondition) (store.WriteResult, error) {
	typ, id := r.Type(), r.ID()
	h, found, err := lockHead(ctx, tx, typ, id)
	if err != nil {
		return store.WriteResult{}, err
	}
	if err := store.CheckPrecondition(typ, id, pre, h.version); err != nil {
		return store.WriteResult{}, err
	}
	if !found {
		now := store.Now()
		body, err := stamp(r, 1, now)
		if err != nil {
			return store.WriteResult{}, err
		}
		tag, err := tx.Exec(ctx, insertSQL, typ, id, now, string(store.MethodUpdate), body)
		if err != nil {
			return store.WriteResult{}, err
		}
		if tag.RowsAffected() == 0 {
			return store.WriteResult{}, errLostCreate
		}
		return store.WriteResult{
			Version: store.Version{Type: typ, ID: id, VersionID: 1, LastUpdated: now, Method: store.MethodUpdate, Body: body},
			Created: true,
		}, nil
	}
	next, now := h.version+1, store.NextTime(store.Now(), h.lastUpdated)
	body, err := stamp(r, next, now)
	if err != nil {
		return store.WriteResult{}, err
	}
	if err := write(ctx, tx, typ, id, next, now, store.MethodUpdate, body); err != nil {
		return store.WriteResult{}, err
	}
	return store.WriteResult{
		Version: store.Version{Type: typ, ID: id, VersionID: next, LastUpdated: now, Method: store.MethodUpdate, Body: body},
	}, nil
}

// write records a new version of a resource whose row the caller locked;
// a nil body is a deletion.
func write(ctx context.Context, tx dbtx, typ, id string, version int64, at time.Time, method store.Method, body []byte) error {
	tag, err := tx.Exec(ctx, writeSQL, typ, id, version, at, string(method), body == nil, body)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("version %d of %s/%s: wrote %d history rows, want 1", version, typ, id, tag.RowsAffected())
	}
	return nil
}

// Delete records a deletion as the next version.
func (s *Store) Delete(ctx context.Context, typ, id string, pre store.Precondition) (store.WriteResult, error) {
	var res store.WriteResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		h, found, err := lockHead(ctx, tx, typ, id)
		if err != nil {
			return err
		}
		if err := store.CheckPrecondition(typ, id, pre, h.version); err != nil {
			return err
		}
		if !found || h.deleted {
			return nil
		}
		next, now := h.version+1, store.NextTime(store.Now(), h.lastUpdated)
		if err := write(ctx, tx, typ, id, next, now, store.MethodDelete, nil); err != nil {
			return err
		}
		res.Version = store.Version{Type: typ, ID: id, VersionID: next, LastUpdated: now, Method: store.MethodDelete, Deleted: true}
		return nil
	})
	if err != nil {
		if _, ok := fhir.AsError(err); ok {
			return store.WriteResult{}, err
		}
		return store.WriteResult{}, fmt.Errorf("postgres: delete %s/%s: %w", typ, id, err)
	}
	return res, nil
}

// Read returns the current version.
func (s *Store) Read(ctx context.Context, typ, id string) (store.Version, error) {
	v := store.Version{Type: typ, ID: id}
	var method string
	err := s.pool.QueryRow(ctx, "SELECT version, last_updated, method, deleted, body FROM resources WHERE type = $1 AND id = $2", typ, id).
		Scan(&v.VersionID, &v.LastUpdated, &method, &v.Deleted, &v.Body)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Version{}, fhir.NotFound(typ, id)
	case err != nil:
		return store.Version{}, fmt.Errorf("postgres: read %s/%s: %w", typ, id, err)
	case v.Deleted:
		return store.Version{}, fhir.Gone(typ, id)
	}
	v.Method, v.LastUpdated = store.Method(method), v.LastUpdated.UTC()
	return v, nil
}

// VRead returns one version.
func (s *Store) VRead(ctx context.Context, typ, id string, version int64) (store.Version, error) {
	v := store.Version{Type: typ, ID: id, VersionID: version}
	var method string
	err := s.pool.QueryRow(ctx, "SELECT last_updated, method, deleted, body FROM resource_history WHERE type = $1 AND id = $2 AND version = $3", typ, id, version).
		Scan(&v.LastUpdated, &method, &v.Deleted, &v.Body)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Version{}, fhir.Errorf(fhir.CodeNotFound, "%s/%s has no version %d", typ, id, version)
	case err != nil:
		return store.Version{}, fmt.Errorf("postgres: vread %s/%s/_history/%d: %w", typ, id, version, err)
	case v.Deleted:
		return store.Version{}, fhir.Errorf(fhir.CodeDeleted, "version %d of %s/%s is a deletion", version, typ, id)
	}
	v.Method, v.LastUpdated = store.Method(method), v.LastUpdated.UTC()
	return v, nil
}

// historyOrder is the contract's ordering (see store.HistoryPage). The
// tiebreak compares type and id byte by byte (COLLATE "C"), as SQLite does,
// whatever the database's collation.
const historyOrder = ` ORDER BY last_updated DESC, type COLLATE "C" DESC, id COLLATE "C" DESC, version DESC`

// History lists versions newest first. The count and the page are read in
// one repeatable-read snapshot so Total agrees with the page.
func (s *Store) History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error) {
	if err := q.Validate(); err != nil {
		return store.HistoryPage{}, err
	}
	where, args := historyWhere(q)
	page := store.HistoryPage{Versions: []store.Version{}}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM resource_history"+where, args...).Scan(&page.Total); err != nil {
			return err
		}
		if page.Total == 0 && q.ID != "" {
			var exists bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM resources WHERE type = $1 AND id = $2)", q.Type, q.ID).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return fhir.NotFound(q.Type, q.ID)
			}
		}
		if q.Count == 0 || q.Offset >= page.Total {
			return nil
		}
		n := len(args)
		rows, err := tx.Query(ctx,
			"SELECT type, id, version, last_updated, method, deleted, body FROM resource_history"+where+historyOrder+
				fmt.Sprintf(" LIMIT $%d OFFSET $%d", n+1, n+2),
			append(args, q.Count, q.Offset)...)
		if err != nil {
			return err
		}
		page.Versions, err = pgx.CollectRows(rows, scanVersion)
		return err
	})
	if err != nil {
		if _, ok := fhir.AsError(err); ok {
			return store.HistoryPage{}, err
		}
		return store.HistoryPage{}, fmt.Errorf("postgres: history: %w", err)
	}
	return page, nil
}

// historyWhere builds the filter of a history query; values are always
// parameters.
func historyWhere(q store.HistoryQuery) (string, []any) {
	var where string
	var args []any
	and := func(cond string, arg any) {
		args = append(args, arg)
		if where == "" {
			where = " WHERE "
		} else {
			where += " AND "
		}
		where += fmt.Sprintf(cond, len(args))
	}
	if q.Type != "" {
		and("type = $%d", q.Type)
	}
	if q.ID != "" {
		and("id = $%d", q.ID)
	}
	// Truncating to the stored precision keeps both comparisons exact:
	// lu > since and lu <= at give the same answers for microsecond values.
	if !q.Since.IsZero() {
		and("last_updated > $%d", q.Since.Truncate(time.Microsecond))
	}
	if !q.At.IsZero() {
		and("last_updated <= $%d", q.At.Truncate(time.Microsecond))
	}
	return where, args
}

func scanVersion(row pgx.CollectableRow) (store.Version, error) {
	var v store.Version
	var method string
	if err := row.Scan(&v.Type, &v.ID, &v.VersionID, &v.LastUpdated, &method, &v.Deleted, &v.Body); err != nil {
		return store.Version{}, err
	}
	v.Method, v.LastUpdated = store.Method(method), v.LastUpdated.UTC()
	return v, nil
}
