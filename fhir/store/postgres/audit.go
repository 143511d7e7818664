package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// AuditEvents live in the audit table (migration 0007, and
// sqlsearch/audit.go for why and how they are searched): one row each,
// version 1, never changed. Create, read, vread, history and search find
// them there; update and delete refuse them.

const auditType = sqlsearch.AuditType

// insertAuditSQL writes an AuditEvent; ON CONFLICT DO NOTHING makes an id
// in use write nothing, which the caller reads as "exists".
const insertAuditSQL = `INSERT INTO audit_events (id, last_updated, recorded_low, recorded_high, body, terms, tags)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`

// auditRecord is an audit_events row.
type auditRecord struct {
	id   string
	at   time.Time
	body []byte
	sqlsearch.AuditRow
}

// auditRecordOf is the row of r, a stored AuditEvent, with body its JSON.
func auditRecordOf(r *fhir.Resource, at time.Time, body []byte) auditRecord {
	rows := sqlsearch.RowsOf(r)
	return auditRecord{id: r.ID(), at: at, body: body, AuditRow: sqlsearch.AuditRowOf(&rows)}
}

// args are insertAuditSQL's arguments.
func (a auditRecord) args() []any {
	return []any{a.id, a.at, a.RecordedLow, a.RecordedHigh, a.body, nonNil(a.Terms), nonNil(a.Tags)}
}

// nonNil keeps an empty list of terms from being written as NULL.
func nonNil(ts []string) []string {
	if ts == nil {
		return []string{}
	}
	return ts
}

// version is the row as a store.Version.
func (a auditRecord) version() store.Version {
	return store.Version{Type: auditType, ID: a.id, VersionID: 1, LastUpdated: a.at, Method: store.MethodCreate, Body: a.body}
}

// auditInsert stamps r, an AuditEvent, as version 1 and returns its row.
func auditInsert(r *fhir.Resource) (auditRecord, error) {
	now := store.Now()
	body, err := stamp(r, 1, now)
	if err != nil {
		return auditRecord{}, err
	}
	return auditRecordOf(r, now, body), nil
}

// insertAudit writes r, an AuditEvent; ok is false, nothing written, when
// its id is in use.
func insertAudit(ctx context.Context, db dbtx, r *fhir.Resource) (store.Version, bool, error) {
	a, err := auditInsert(r)
	if err != nil {
		return store.Version{}, false, err
	}
	tag, err := db.Exec(ctx, insertAuditSQL, a.args()...)
	if err != nil || tag.RowsAffected() == 0 {
		return store.Version{}, false, err
	}
	return a.version(), true, nil
}

// insertAuditsSQL writes many AuditEvents in one statement, so in one
// round trip and one implicit transaction: the columns travel as arrays,
// each row's terms and tags as one string joined by auditTermsSep (an
// empty string is an empty array). No ON CONFLICT: an id in use fails the
// statement, and nothing is written.
const insertAuditsSQL = `INSERT INTO audit_events (id, last_updated, recorded_low, recorded_high, body, terms, tags)
SELECT u.id, u.lu, u.lo, u.hi, u.body::json, string_to_array(u.terms, E'\x1e'), string_to_array(u.tags, E'\x1e')
FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[]) AS u(id, lu, lo, hi, body, terms, tags)`

// auditTermsSep joins a row's terms for insertAuditsSQL: a control
// character no term holds.
const auditTermsSep = "\x1e"

// errSeparatorInTerm sends a batch to the one-insert-per-row path.
var errSeparatorInTerm = errors.New("a term holds the separator")

func allAudit(rs []*fhir.Resource) bool {
	for _, r := range rs {
		if r.Type() != auditType {
			return false
		}
	}
	return true
}

// createAudits is Store.CreateAll for AuditEvents only: one statement.
func createAudits(ctx context.Context, db dbtx, rs []*fhir.Resource) ([]store.Version, error) {
	n := len(rs)
	// Bodies go as they are: a []byte is a text array element to pgx,
	// without a string copy of each.
	ids, terms, tags := make([]string, n), make([]string, n), make([]string, n)
	bodies := make([][]byte, n)
	at, lo, hi := make([]time.Time, n), make([]int64, n), make([]int64, n)
	out := make([]store.Version, n)
	for i, r := range rs {
		if err := store.CheckResource(r); err != nil {
			return nil, err
		}
		a, err := auditInsert(r)
		if err != nil {
			return nil, internal(err, "create %s/%s", auditType, r.ID())
		}
		for _, t := range slices.Concat(a.Terms, a.Tags) {
			if strings.Contains(t, auditTermsSep) {
				// Not a FHIR string, but the row must stay exact.
				return nil, errSeparatorInTerm
			}
		}
		ids[i], at[i], lo[i], hi[i], bodies[i] = a.id, a.at, a.RecordedLow, a.RecordedHigh, a.body
		terms[i], tags[i] = strings.Join(a.Terms, auditTermsSep), strings.Join(a.Tags, auditTermsSep)
		out[i] = a.version()
	}
	if _, err := db.Exec(ctx, insertAuditsSQL, ids, at, lo, hi, bodies, terms, tags); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return nil, fhir.Errorf(fhir.CodeDuplicate, "an AuditEvent id among %d is in use (%s)", n, pe.Detail)
		}
		return nil, internal(err, "create %d AuditEvents", n)
	}
	return out, nil
}

// errAppendOnly refuses to change or remove an AuditEvent.
func errAppendOnly(id string) error {
	return fhir.Errorf(fhir.CodeNotSupported, "AuditEvent/%s: audit records are append-only; they cannot be updated or deleted", id).Because(fhir.DetailAppendOnly)
}

// readAudit is read and vread of an AuditEvent.
func readAudit(ctx context.Context, db dbtx, id string, version int64) (store.Version, error) {
	v := store.Version{Type: auditType, ID: id, VersionID: 1, Method: store.MethodCreate}
	err := db.QueryRow(ctx, "SELECT last_updated, body FROM audit_events WHERE id = $1", id).Scan(&v.LastUpdated, &v.Body)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if version > 0 {
			return store.Version{}, fhir.Errorf(fhir.CodeNotFound, "%s/%s has no version %d", auditType, id, version)
		}
		return store.Version{}, fhir.NotFound(auditType, id)
	case err != nil:
		return store.Version{}, fmt.Errorf("postgres: read %s/%s: %w", auditType, id, err)
	case version > 1:
		return store.Version{}, fhir.Errorf(fhir.CodeNotFound, "%s/%s has no version %d", auditType, id, version)
	}
	v.LastUpdated = v.LastUpdated.UTC()
	return v, nil
}

// auditHistory is the audit table as history rows, for History.
const auditHistory = `SELECT '` + auditType + `'::text AS type, id, 1::bigint AS version, last_updated, 'POST'::text AS method, false AS deleted, body FROM audit_events`

// historySource is what History reads as resource_history for q: the
// audit table for AuditEvent, both for system history.
func historySource(q store.HistoryQuery) string {
	switch {
	case q.Type == auditType:
		return "(" + auditHistory + ") resource_history"
	case q.Type == "" && (len(q.Types) == 0 || slices.Contains(q.Types, auditType)):
		return "(SELECT type, id, version, last_updated, method, deleted, body FROM resource_history UNION ALL " + auditHistory + ") resource_history"
	}
	return "resource_history"
}

// moveBatch is how many earlier AuditEvents one transaction moves.
const moveBatch = 500

// moveAuditEvents moves AuditEvents stored before the audit table existed
// (as resources with history and index rows) into it, a batch per
// transaction, with their ids, times and bodies unchanged. Rows locked by
// another process moving them too are skipped, so two gateways starting
// at once share the work; the returned count is this process's.
func moveAuditEvents(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	moved := 0
	for {
		n := 0
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT id, last_updated, body FROM resources WHERE type = $1 AND NOT deleted
ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, auditType, moveBatch)
			if err != nil {
				return err
			}
			type old struct {
				id   string
				at   time.Time
				body []byte
			}
			var batch []old
			for rows.Next() {
				var o old
				if err := rows.Scan(&o.id, &o.at, &o.body); err != nil {
					rows.Close()
					return err
				}
				batch = append(batch, o)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if len(batch) == 0 {
				return nil
			}
			b := &pgx.Batch{}
			ids := make([]string, len(batch))
			for i, o := range batch {
				ids[i] = o.id
				r, err := fhir.ParseResource(o.body)
				if err != nil {
					return fmt.Errorf("AuditEvent/%s: %w", o.id, err)
				}
				b.Queue(insertAuditSQL, auditRecordOf(r, o.at, o.body).args()...)
			}
			for _, t := range indexTables {
				b.Queue("DELETE FROM "+t.name+" WHERE res_type = $1 AND res_id = ANY($2)", auditType, ids)
			}
			b.Queue("DELETE FROM resource_history WHERE type = $1 AND id = ANY($2)", auditType, ids)
			b.Queue("DELETE FROM resources WHERE type = $1 AND id = ANY($2)", auditType, ids)
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
			n = len(batch)
			return nil
		})
		if err != nil {
			return moved, fmt.Errorf("moving AuditEvents into the audit table: %w", err)
		}
		moved += n
		if n < moveBatch {
			return moved, nil
		}
	}
}
