package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// reindexBatch is how many resources one rebuild transaction takes.
const reindexBatch = 500

// reindex rebuilds the search index rows of every current resource when
// the file's rows were built by another derivation than
// sqlsearch.IndexVersion, then records the version (see the PostgreSQL
// store's reindex for why every type is rebuilt). AuditEvents (tables of
// their own, no index rows) and summary rows (rebuilt per kind by
// RegisterSummarizer) are left alone.
//
// Each batch is one write transaction (BEGIN IMMEDIATE) that reads the
// bodies and replaces their rows, so no write of another process can fall
// between reading a body and writing its rows, and the write lock is held
// for one batch at a time, not for the whole rebuild (another process's
// writes wait busy_timeout at most). Each batch first reads the recorded
// version, so a process that opens the file while another rebuilds it
// stops once the other has recorded it; until then both rebuild, which is
// only work done twice. A failure leaves the version unrecorded, and the
// next Open starts over.
func reindex(ctx context.Context, w *sql.DB, log *slog.Logger) error {
	var from int
	var done, fresh bool
	err := inTx(ctx, w, nil, func(tx *sql.Tx) error {
		v, found, err := indexVersion(ctx, tx)
		if err != nil {
			return err
		}
		if found {
			from, done = v, v == sqlsearch.IndexVersion
			return nil
		}
		var stored bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM resources WHERE NOT deleted)").Scan(&stored); err != nil {
			return err
		}
		if !stored {
			// A new file: its index is built by this version.
			fresh = true
			return recordIndexVersion(ctx, tx)
		}
		from = sqlsearch.IndexVersionBeforeRecord
		return nil
	})
	if err != nil || done || fresh {
		return err
	}
	start := time.Now()
	log.Info("search index rebuild started", "from_version", from, "to_version", sqlsearch.IndexVersion)
	var resources, rows int
	afterType, afterID := "", ""
	for {
		var n, r int
		var stop bool
		err := inTx(ctx, w, nil, func(tx *sql.Tx) error {
			v, found, err := indexVersion(ctx, tx)
			if err != nil {
				return err
			}
			if found && v == sqlsearch.IndexVersion {
				stop = true // another process finished it
				return nil
			}
			n, r, afterType, afterID, err = reindexBatchIn(ctx, tx, afterType, afterID)
			if err != nil {
				return err
			}
			if n < reindexBatch {
				return recordIndexVersion(ctx, tx)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("after %s/%s: %w", afterType, afterID, err)
		}
		if stop {
			log.Info("search index rebuilt by another process", "to_version", sqlsearch.IndexVersion)
			return nil
		}
		resources, rows = resources+n, rows+r
		if n < reindexBatch {
			break
		}
	}
	log.Info("search index rebuilt", "from_version", from, "to_version", sqlsearch.IndexVersion,
		"resources", resources, "index_rows", rows, "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// reindexBatchIn replaces the index rows of the next reindexBatch current
// resources after (afterType, afterID), and returns how many resources
// and rows it wrote and the key to go on after.
func reindexBatchIn(ctx context.Context, tx *sql.Tx, afterType, afterID string) (n, rows int, lastType, lastID string, err error) {
	lastType, lastID = afterType, afterID
	res, err := tx.QueryContext(ctx, `SELECT type, id, body FROM resources
		WHERE NOT deleted AND type <> ? AND (type, id) > (?, ?)
		ORDER BY type, id LIMIT ?`, auditType, afterType, afterID, reindexBatch)
	if err != nil {
		return 0, 0, "", "", err
	}
	type item struct {
		typ, id string
		rows    sqlsearch.Rows
	}
	var items []item
	for res.Next() {
		var typ, id, body string
		if err := res.Scan(&typ, &id, &body); err != nil {
			res.Close()
			return 0, 0, "", "", err
		}
		r, err := fhir.ParseResource([]byte(body))
		if err != nil {
			res.Close()
			return 0, 0, "", "", fmt.Errorf("%s/%s: %w", typ, id, err)
		}
		items = append(items, item{typ, id, sqlsearch.RowsOf(r)})
		lastType, lastID = typ, id
	}
	res.Close()
	if err := res.Err(); err != nil {
		return 0, 0, "", "", err
	}
	for i := range items {
		it := &items[i]
		if err := deleteIndex(ctx, tx, it.typ, it.id, false); err != nil {
			return 0, 0, "", "", err
		}
		if err := insertIndex(ctx, tx, it.typ, it.id, &it.rows); err != nil {
			return 0, 0, "", "", err
		}
		rows += it.rows.Len()
	}
	return len(items), rows, lastType, lastID, nil
}

// indexVersion reads the recorded index version; found is false when
// there is none.
func indexVersion(ctx context.Context, tx *sql.Tx) (v int, found bool, err error) {
	err = tx.QueryRowContext(ctx, "SELECT version FROM search_index_version").Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return v, err == nil, err
}

func recordIndexVersion(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO search_index_version (one, version) VALUES (1, ?)
		ON CONFLICT (one) DO UPDATE SET version = excluded.version, built_at = CURRENT_TIMESTAMP`, sqlsearch.IndexVersion)
	return err
}
