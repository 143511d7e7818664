package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// AuditEvents live in the audit tables (migration 0007, and
// sqlsearch/audit.go for how they are searched): one row each, version
// 1, never changed. Create, read, vread, history and search find them
// there; update and delete refuse them, as the PostgreSQL store does.

const auditType = sqlsearch.AuditType

const (
	insertAuditSQL = `INSERT INTO audit_events (id, last_updated, recorded_low, recorded_high, body, tags)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
	// insertAuditTermsSQL writes all of an event's terms, passed as one
	// JSON array: one prepared statement, not one per term.
	insertAuditTermsSQL = "INSERT OR IGNORE INTO audit_terms (term, seq) SELECT value, ? FROM json_each(?)"
	readAuditSQL        = "SELECT last_updated, body FROM audit_events WHERE id = ?"
)

// writeAudit writes the audit rows of r, an AuditEvent stored as body at
// micros; ok is false, nothing written, when its id is in use.
func writeAudit(ctx context.Context, tx dbtx, r *fhir.Resource, micros int64, body []byte) (bool, error) {
	rows := sqlsearch.RowsOf(r)
	a := sqlsearch.AuditRowOf(&rows)
	js, err := jsonArray(a.Tags)
	if err != nil {
		return false, err
	}
	terms, err := jsonArray(a.Terms)
	if err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx, insertAuditSQL, r.ID(), micros, a.RecordedLow, a.RecordedHigh, string(body), js)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, insertAuditTermsSQL, seq, terms); err != nil {
		return false, err
	}
	return true, nil
}

// jsonArray is terms as a JSON array ("[]" for none).
func jsonArray(terms []string) (string, error) {
	if terms == nil {
		terms = []string{}
	}
	b, err := json.Marshal(terms)
	return string(b), err
}

// createAudit is create for an AuditEvent.
func createAudit(ctx context.Context, tx dbtx, r *fhir.Resource) (store.WriteResult, error) {
	now := store.Now()
	body, err := stamp(r, 1, now)
	if err != nil {
		return store.WriteResult{}, err
	}
	ok, err := writeAudit(ctx, tx, r, now.UnixMicro(), body)
	if err != nil {
		return store.WriteResult{}, err
	}
	if !ok {
		return store.WriteResult{}, fhir.Errorf(fhir.CodeDuplicate, "%s/%s already exists", auditType, r.ID())
	}
	v := store.Version{Type: auditType, ID: r.ID(), VersionID: 1, LastUpdated: now, Method: store.MethodCreate, Body: body}
	return store.WriteResult{Version: v, Created: true}, nil
}

// errAppendOnly refuses to change or remove an AuditEvent.
func errAppendOnly(id string) error {
	return fhir.Errorf(fhir.CodeNotSupported, "AuditEvent/%s: audit records are append-only; they cannot be updated or deleted", id).Because(fhir.DetailAppendOnly)
}

// readAudit is read and vread of an AuditEvent.
func readAudit(row *sql.Row, id string, version int64) (store.Version, error) {
	v := store.Version{Type: auditType, ID: id, VersionID: 1, Method: store.MethodCreate}
	var micros int64
	err := row.Scan(&micros, &v.Body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if version > 0 {
			return store.Version{}, fhir.Errorf(fhir.CodeNotFound, "%s/%s has no version %d", auditType, id, version)
		}
		return store.Version{}, fhir.NotFound(auditType, id)
	case err != nil:
		return store.Version{}, internal(err, "read %s/%s", auditType, id)
	case version > 1:
		return store.Version{}, fhir.Errorf(fhir.CodeNotFound, "%s/%s has no version %d", auditType, id, version)
	}
	v.LastUpdated = time.UnixMicro(micros).UTC()
	return v, nil
}

// auditHistory is the audit table as history rows, for History.
const auditHistory = `SELECT '` + auditType + `' AS type, id, 1 AS version, last_updated, 'POST' AS method, 0 AS deleted, body FROM audit_events`

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

// moveAuditEvents moves AuditEvents stored before the audit tables
// existed (as resources with history and index rows) into them, a batch
// per write transaction, with their ids, times and bodies unchanged. The
// writer's lock serialises two processes opening the file at once: the
// second finds nothing left to move.
func moveAuditEvents(ctx context.Context, w *sql.DB) error {
	for {
		n := 0
		err := inTx(ctx, w, nil, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `SELECT id, last_updated, body FROM resources WHERE type = ? AND NOT deleted ORDER BY id LIMIT ?`, auditType, moveBatch)
			if err != nil {
				return err
			}
			type old struct {
				id     string
				micros int64
				body   []byte
			}
			var batch []old
			for rows.Next() {
				var o old
				if err := rows.Scan(&o.id, &o.micros, &o.body); err != nil {
					rows.Close()
					return err
				}
				batch = append(batch, o)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, o := range batch {
				r, err := fhir.ParseResource(o.body)
				if err != nil {
					return fmt.Errorf("AuditEvent/%s: %w", o.id, err)
				}
				if _, err := writeAudit(ctx, tx, r, o.micros, o.body); err != nil {
					return fmt.Errorf("AuditEvent/%s: %w", o.id, err)
				}
				for _, t := range slices.Concat(indexTables, []string{"idx_summary", "resource_history", "resources"}) {
					col := "res_type = ? AND res_id = ?"
					if t == "resource_history" || t == "resources" {
						col = "type = ? AND id = ?"
					}
					if _, err := tx.ExecContext(ctx, "DELETE FROM "+t+" WHERE "+col, auditType, o.id); err != nil {
						return err
					}
				}
			}
			n = len(batch)
			return nil
		})
		if err != nil {
			return fmt.Errorf("moving AuditEvents into the audit tables: %w", err)
		}
		if n < moveBatch {
			return nil
		}
	}
}

// CreateAll stores new resources (ids assigned by the caller) as version
// 1, all or none, in one write job: what the gateway uses to commit a
// group of audit records together. An id in use fails the whole call with
// a duplicate error and stores nothing.
func (s *Store) CreateAll(ctx context.Context, rs []*fhir.Resource) ([]store.Version, error) {
	out := make([]store.Version, len(rs))
	err := s.write(ctx, func(tx *wtx) error {
		for i, r := range rs {
			res, err := create(ctx, tx, r, &s.sums)
			if err != nil {
				return err
			}
			out[i] = res.Version
		}
		return nil
	})
	if err != nil {
		if _, ok := fhir.AsError(err); ok {
			return nil, err
		}
		return nil, internal(err, "create %d resources", len(rs))
	}
	return out, nil
}
