package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3" // registers the "sqlite3" database/sql driver

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// FileName is the database file Open creates in its folder.
const FileName = "signpost.db"

// busyTimeout is how long a statement waits for another process's lock on
// the file before failing.
const busyTimeout = 10 * time.Second

// Store is the SQLite store. It is safe for concurrent use; several
// processes may open one file, though only one writes at a time.
type Store struct {
	// Writes are the writes outside a transaction, each a Transaction.
	store.Writes
	w       *sql.DB // one connection: every write, serialised
	r       *sql.DB // read-only connections, concurrent with the writer
	baseURL string
	sums    sqlsearch.Summarizers
	// prep are the writer's prepared statements by their text (wtx);
	// readStmt, vreadStmt and auditStmt the readers' (read, vread, and
	// both of an AuditEvent).
	prep                           map[string]*sql.Stmt
	readStmt, vreadStmt, auditStmt *sql.Stmt
	writer                         writer
	log                            *slog.Logger
}

// Option adjusts how Open builds the store.
type Option func(*Store)

// WithBaseURL is the gateway's public FHIR base (https://host/fhir).
// Searches and includes treat absolute references under it like relative
// ones. Index rows keep references as written, so changing it needs no
// reindexing.
func WithBaseURL(u string) Option { return func(s *Store) { s.baseURL = u } }

// WithLogger is where Open logs a search index rebuild (slog.Default()
// when not given).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

var (
	_ store.Store         = (*Store)(nil)
	_ store.BulkCreator   = (*Store)(nil)
	_ store.OutboxStatser = (*Store)(nil)
)

// Open opens (creating when missing) dir/signpost.db and applies the
// embedded migrations.
func Open(ctx context.Context, dir string, opts ...Option) (*Store, error) {
	if dir == "" {
		return nil, errors.New("sqlite: no data folder given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create the data folder: %w", err)
	}
	path := filepath.Join(abs, FileName)

	w, err := sql.Open(driverName, dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writer connects first: it switches the file to WAL before any
	// reader opens it.
	if err := pingWriter(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := moveAuditEvents(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	cfg := &Store{log: slog.Default()}
	for _, o := range opts {
		o(cfg)
	}
	if err := reindex(ctx, w, cfg.log); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: rebuild the search index: %w", err)
	}

	r, err := sql.Open(driverName, dsn(path, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	s := &Store{w: w, r: r, writer: writer{kick: make(chan struct{}, 1)}}
	s.Writes = store.Writes{T: s}
	for _, o := range opts {
		o(s)
	}
	if s.prep, err = prepareAll(ctx, w, writerStatements()); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if s.readStmt, err = r.PrepareContext(ctx, readSQL); err == nil {
		if s.vreadStmt, err = r.PrepareContext(ctx, vreadSQL); err == nil {
			s.auditStmt, err = r.PrepareContext(ctx, readAuditSQL)
		}
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return s, nil
}

// pingWriter opens the writer's connection. Several processes opening a
// new file together can get SQLITE_BUSY at once, without the busy
// handler's wait, while one of them switches the file to WAL (SQLite
// refuses to wait where waiting could deadlock): that is retried, up to
// busyTimeout.
func pingWriter(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		err := w.PingContext(ctx)
		var se sqlite3.Error
		if err == nil || !errors.As(err, &se) || se.Code != sqlite3.ErrBusy || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// driverName is mattn/go-sqlite3's database/sql driver (cgo: SQLite's own
// C, several times faster than a translation to Go), registered with the
// connection settings below.
const driverName = "signpost-sqlite3"

// connPragmas are run on every connection as it opens.
var connPragmas = []string{
	// Temporary files in memory. The group commit (writer.go) runs each
	// write in a SAVEPOINT, and SQLite keeps a savepoint's undo pages in
	// a statement journal, a temporary file: on disk, that was more
	// write calls than the WAL itself. The statement journal holds only
	// what rolling back to a savepoint needs; the durable copy of every
	// commit is still the WAL, fsynced (synchronous=FULL).
	"PRAGMA temp_store = MEMORY",
}

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			for _, p := range connPragmas {
				if _, err := c.Exec(p, nil); err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
			}
			return nil
		},
	})
}

// dsn is the connection string for the writer or the readers. Every
// connection gets busy_timeout (the driver sets it first, so the other
// pragmas can wait for a lock) and foreign keys (off by default in
// SQLite); the writer also sets the journal and sync modes and begins
// every transaction IMMEDIATE; readers are query_only so a bug cannot
// write outside the writer's lock.
func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "1")
	if writer {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "1")
	}
	// A file: URI, so a folder name with '?' or '#' in it is escaped
	// rather than read as parameters.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	s := u.String()
	if !strings.HasPrefix(s, "file:") {
		return "file:" + s
	}
	return s
}

// Ping reports whether the file can be read.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes the readers and the writer.
func (s *Store) Close() error {
	var errs []error
	errs = append(errs, closeAll(s.prep))
	for _, st := range []*sql.Stmt{s.readStmt, s.vreadStmt, s.auditStmt} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(append(errs, s.r.Close(), s.w.Close())...)
}

// dbtx is what the helpers need, satisfied by *sql.DB and *sql.Tx.
type dbtx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var (
	_ dbtx = (*sql.DB)(nil)
	_ dbtx = (*sql.Tx)(nil)
)

// inTx runs fn in a transaction on db and commits when fn succeeds. On the
// writer it is BEGIN IMMEDIATE (see dsn).
func inTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

const (
	insertCurrentSQL = `INSERT INTO resources (type, id, version, last_updated, method, deleted, body)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
	updateCurrentSQL = `UPDATE resources SET version = ?, last_updated = ?, method = ?, deleted = ?, body = ?
		WHERE type = ? AND id = ?`
	insertHistorySQL = `INSERT INTO resource_history (type, id, version, last_updated, method, deleted, body)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
	readHeadSQL = "SELECT version, last_updated, deleted, method, body FROM resources WHERE type = ? AND id = ?"
	readSQL     = "SELECT version, last_updated, method, deleted, body FROM resources WHERE type = ? AND id = ?"
	vreadSQL    = "SELECT last_updated, method, deleted, body FROM resource_history WHERE type = ? AND id = ? AND version = ?"
)

// writerStatements are the statements the writer prepares once.
func writerStatements() []string {
	qs := []string{insertCurrentSQL, updateCurrentSQL, insertHistorySQL, readHeadSQL, readSQL,
		insertAuditSQL, insertAuditTermsSQL, readAuditSQL, changesSQL, allChangesSQL,
		"SAVEPOINT job", "ROLLBACK TO job", "RELEASE job"}
	for _, t := range slices.Concat(indexTables, []string{"idx_summary"}) {
		qs = append(qs, deleteIndexSQL(t))
	}
	return append(qs, indexInsertSQL[:]...)
}

// text is the body as a TEXT value (a []byte would be stored as a BLOB);
// nil, a deletion, is NULL.
func text(body []byte) any {
	if body == nil {
		return nil
	}
	return string(body)
}

// insertFirst writes version 1 (current row, history row and index rows);
// it reports false, writing nothing, when the id is already in use.
func insertFirst(ctx context.Context, tx dbtx, v store.Version, rows *sqlsearch.Rows) (bool, error) {
	res, err := tx.ExecContext(ctx, insertCurrentSQL, v.Type, v.ID, v.VersionID, v.LastUpdated.UnixMicro(), string(v.Method), false, text(v.Body))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	if _, err = tx.ExecContext(ctx, insertHistorySQL, v.Type, v.ID, v.VersionID, v.LastUpdated.UnixMicro(), string(v.Method), false, text(v.Body)); err != nil {
		return false, err
	}
	return true, insertIndex(ctx, tx, v.Type, v.ID, rows)
}

// writeNext replaces the current row with v, records v in history and
// replaces the index rows (rows is empty for a deletion).
func writeNext(ctx context.Context, tx dbtx, v store.Version, rows *sqlsearch.Rows) error {
	at := v.LastUpdated.UnixMicro()
	res, err := tx.ExecContext(ctx, updateCurrentSQL, v.VersionID, at, string(v.Method), v.Deleted, text(v.Body), v.Type, v.ID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("version %d of %s/%s: updated %d current rows, want 1 (%v)", v.VersionID, v.Type, v.ID, n, err)
	}
	if _, err = tx.ExecContext(ctx, insertHistorySQL, v.Type, v.ID, v.VersionID, at, string(v.Method), v.Deleted, text(v.Body)); err != nil {
		return err
	}
	if err := deleteIndex(ctx, tx, v.Type, v.ID, rows.Summarized); err != nil {
		return err
	}
	return insertIndex(ctx, tx, v.Type, v.ID, rows)
}

// head is what a write reads of the current version.
type head = store.Head

// readHead reads the current version; the writer's IMMEDIATE transaction
// already holds the file's write lock, which is what FOR UPDATE does in
// PostgreSQL.
func readHead(ctx context.Context, db dbtx, typ, id string) (h head, found bool, err error) {
	var micros int64
	err = db.QueryRowContext(ctx, "SELECT version, last_updated, deleted, method, body FROM resources WHERE type = ? AND id = ?", typ, id).
		Scan(&h.Version, &micros, &h.Deleted, &h.Method, &h.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return head{}, false, nil
	}
	if err != nil {
		return head{}, false, err
	}
	h.LastUpdated = time.UnixMicro(micros).UTC()
	return h, true, nil
}

// stamp is store.Stamp.
var stamp = store.Stamp

// internal is store.Internal for this store.
func internal(err error, format string, args ...any) error {
	return store.Internal("sqlite", err, format, args...)
}

// create is Tx.Create inside a write transaction.
func create(ctx context.Context, tx dbtx, r *fhir.Resource, sums *sqlsearch.Summarizers) (store.WriteResult, error) {
	if err := store.CheckResource(r); err != nil {
		return store.WriteResult{}, err
	}
	typ, id := r.Type(), r.ID()
	if typ == auditType {
		return createAudit(ctx, tx, r)
	}
	now := store.Now()
	body, err := stamp(r, 1, now)
	if err != nil {
		return store.WriteResult{}, err
	}
	v := store.Version{Type: typ, ID: id, VersionID: 1, LastUpdated: now, Method: store.MethodCreate, Body: body}
	rows := sqlsearch.RowsWith(r, sums)
	ok, err := insertFirst(ctx, tx, v, &rows)
	if err != nil {
		return store.WriteResult{}, err
	}
	if !ok {
		return store.WriteResult{}, fhir.Errorf(fhir.CodeDuplicate, "%s/%s already exists", typ, id)
	}
	return store.WriteResult{Version: v, Created: true}, nil
}

// update is Tx.Update inside a write transaction. The writer's lock
// makes the read and the write one step, so unlike the PostgreSQL store
// there is no race with a concurrent creator to retry.
func update(ctx context.Context, tx dbtx, r *fhir.Resource, pre store.Precondition, sums *sqlsearch.Summarizers) (store.WriteResult, error) {
	typ, id := r.Type(), r.ID()
	if typ == auditType {
		return store.WriteResult{}, errAppendOnly(id)
	}
	h, found, err := readHead(ctx, tx, typ, id)
	if err != nil {
		return store.WriteResult{}, err
	}
	if err := store.CheckPrecondition(typ, id, pre, h.Version); err != nil {
		return store.WriteResult{}, err
	}
	v := store.Version{Type: typ, ID: id, Method: store.MethodUpdate}
	if !found {
		v.VersionID, v.LastUpdated = 1, store.Now()
		if v.Body, err = stamp(r, v.VersionID, v.LastUpdated); err != nil {
			return store.WriteResult{}, err
		}
		rows := sqlsearch.RowsWith(r, sums)
		ok, err := insertFirst(ctx, tx, v, &rows)
		if err == nil && !ok {
			err = fmt.Errorf("%s/%s appeared while the write lock was held", typ, id)
		}
		return store.WriteResult{Version: v, Created: true}, err
	}
	res, err := store.StampNext(r, h.Current(typ, id))
	if err != nil || res.Unchanged {
		return res, err
	}
	rows := sqlsearch.RowsWith(r, sums)
	return res, writeNext(ctx, tx, res.Version, &rows)
}

// remove is Tx.Delete inside a write transaction.
func remove(ctx context.Context, tx dbtx, typ, id string, pre store.Precondition, sums *sqlsearch.Summarizers) (store.WriteResult, error) {
	if typ == auditType {
		return store.WriteResult{}, errAppendOnly(id)
	}
	h, found, err := readHead(ctx, tx, typ, id)
	if err != nil {
		return store.WriteResult{}, err
	}
	if err := store.CheckPrecondition(typ, id, pre, h.Version); err != nil {
		return store.WriteResult{}, err
	}
	if !found || h.Deleted {
		return store.WriteResult{}, nil
	}
	v := store.Version{Type: typ, ID: id, VersionID: h.Version + 1, LastUpdated: store.NextTime(store.Now(), h.LastUpdated),
		Method: store.MethodDelete, Deleted: true}
	if err := writeNext(ctx, tx, v, &sqlsearch.Rows{Summarized: sums.Has(typ)}); err != nil {
		return store.WriteResult{}, err
	}
	return store.WriteResult{Version: v}, nil
}

// Read returns the current version.
func (s *Store) Read(ctx context.Context, typ, id string) (store.Version, error) {
	if typ == auditType {
		return readAudit(s.auditStmt.QueryRowContext(ctx, id), id, 0)
	}
	return scanRead(s.readStmt.QueryRowContext(ctx, typ, id), typ, id)
}

func read(ctx context.Context, db dbtx, typ, id string) (store.Version, error) {
	if typ == auditType {
		return readAudit(db.QueryRowContext(ctx, readAuditSQL, id), id, 0)
	}
	return scanRead(db.QueryRowContext(ctx, readSQL, typ, id), typ, id)
}

func scanRead(row *sql.Row, typ, id string) (store.Version, error) {
	v := store.Version{Type: typ, ID: id}
	var micros int64
	var method string
	err := row.Scan(&v.VersionID, &micros, &method, &v.Deleted, &v.Body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Version{}, fhir.NotFound(typ, id)
	case err != nil:
		return store.Version{}, internal(err, "read %s/%s", typ, id)
	case v.Deleted:
		return store.Version{}, fhir.Gone(typ, id)
	}
	v.Method, v.LastUpdated = store.Method(method), time.UnixMicro(micros).UTC()
	return v, nil
}

// VRead returns one version.
func (s *Store) VRead(ctx context.Context, typ, id string, version int64) (store.Version, error) {
	if typ == auditType {
		return readAudit(s.auditStmt.QueryRowContext(ctx, id), id, version)
	}
	v := store.Version{Type: typ, ID: id, VersionID: version}
	var micros int64
	var method string
	err := s.vreadStmt.QueryRowContext(ctx, typ, id, version).
		Scan(&micros, &method, &v.Deleted, &v.Body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Version{}, fhir.Errorf(fhir.CodeNotFound, "%s/%s has no version %d", typ, id, version)
	case err != nil:
		return store.Version{}, internal(err, "vread %s/%s/_history/%d", typ, id, version)
	case v.Deleted:
		return store.Version{}, fhir.Errorf(fhir.CodeDeleted, "version %d of %s/%s is a deletion", version, typ, id)
	}
	v.Method, v.LastUpdated = store.Method(method), time.UnixMicro(micros).UTC()
	return v, nil
}

// historyOrder is the contract's ordering (see store.HistoryPage); type
// and id compare byte by byte (SQLite's default BINARY collation).
const historyOrder = " ORDER BY last_updated DESC, type DESC, id DESC, version DESC"

// History lists versions newest first. The count and the page are read in
// one read transaction (one WAL snapshot) so Total agrees with the page.
func (s *Store) History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error) {
	if err := q.Validate(); err != nil {
		return store.HistoryPage{}, err
	}
	where, args := historyWhere(q)
	from := historySource(q)
	page := store.HistoryPage{Versions: []store.Version{}}
	err := inTx(ctx, s.r, &sql.TxOptions{ReadOnly: true}, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+from+where, args...).Scan(&page.Total); err != nil {
			return err
		}
		if page.Total == 0 && q.ID != "" {
			var exists bool
			stmt := "SELECT EXISTS (SELECT 1 FROM resources WHERE type = ? AND id = ?)"
			if q.Type == auditType {
				stmt = "SELECT EXISTS (SELECT 1 FROM audit_events WHERE ? <> '' AND id = ?)"
			}
			if err := tx.QueryRowContext(ctx, stmt, q.Type, q.ID).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return fhir.NotFound(q.Type, q.ID)
			}
		}
		if q.Count == 0 || q.Offset >= page.Total {
			return nil
		}
		rows, err := tx.QueryContext(ctx,
			"SELECT type, id, version, last_updated, method, deleted, body FROM "+from+where+historyOrder+" LIMIT ? OFFSET ?",
			append(args, q.Count, q.Offset)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v store.Version
			var micros int64
			var method string
			if err := rows.Scan(&v.Type, &v.ID, &v.VersionID, &micros, &method, &v.Deleted, &v.Body); err != nil {
				return err
			}
			v.Method, v.LastUpdated = store.Method(method), time.UnixMicro(micros).UTC()
			page.Versions = append(page.Versions, v)
		}
		return rows.Err()
	})
	if err != nil {
		return store.HistoryPage{}, internal(err, "history")
	}
	return page, nil
}

// historyWhere builds the filter of a history query; values are always
// parameters. Times compare as Unix microseconds; truncating the bounds to
// that precision keeps lu > since and lu <= at exact.
func historyWhere(q store.HistoryQuery) (string, []any) {
	var conds []string
	var args []any
	if q.Type != "" {
		conds, args = append(conds, "type = ?"), append(args, q.Type)
	}
	if q.ID != "" {
		conds, args = append(conds, "id = ?"), append(args, q.ID)
	}
	if !q.Since.IsZero() {
		conds, args = append(conds, "last_updated > ?"), append(args, q.Since.Truncate(time.Microsecond).UnixMicro())
	}
	if !q.At.IsZero() {
		conds, args = append(conds, "last_updated <= ?"), append(args, q.At.Truncate(time.Microsecond).UnixMicro())
	}
	if !q.CurrentAfter.IsZero() {
		conds = append(conds, "NOT EXISTS (SELECT 1 FROM resource_history n WHERE n.type = resource_history.type AND n.id = resource_history.id "+
			"AND n.version = resource_history.version + 1 AND n.last_updated <= ?)")
		args = append(args, q.CurrentAfter.Truncate(time.Microsecond).UnixMicro())
	}
	if len(q.Types) > 0 {
		conds = append(conds, "type IN ("+placeholders(len(q.Types))+")")
		for _, t := range q.Types {
			args = append(args, t)
		}
	}
	if f := q.Security; f != nil && len(f.Types) > 0 {
		notTyped := "type NOT IN (" + placeholders(len(f.Types)) + ")"
		for _, t := range f.Types {
			args = append(args, t)
		}
		if len(f.Codes) == 0 {
			conds = append(conds, notTyped)
		} else {
			conds = append(conds, "("+notTyped+" OR EXISTS (SELECT 1 FROM json_each("+historyBody+", '$.meta.security') sec "+
				"WHERE json_extract(sec.value, '$.system') = ? AND json_extract(sec.value, '$.code') IN ("+placeholders(len(f.Codes))+")))")
			args = append(args, f.System)
			for _, c := range f.Codes {
				args = append(args, c)
			}
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// historyBody is a history row's body for store.SecurityFilter; for a
// deletion, the body of the version it deleted (always the one before).
const historyBody = "COALESCE(resource_history.body, (SELECT p.body FROM resource_history p " +
	"WHERE p.type = resource_history.type AND p.id = resource_history.id AND p.version = resource_history.version - 1))"

// placeholders is n comma-separated ? placeholders.
func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }
