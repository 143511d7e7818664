package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// reindexLock is the advisory lock class of the search index rebuild
// ("rndx").
const reindexLock = 0x726e6478

// reindexBatch is how many resources one rebuild transaction takes.
const reindexBatch = 500

// reindex rebuilds the search index rows of every current resource when
// the database's rows were built by another derivation than
// sqlsearch.IndexVersion, then records the version.
//
// Every type is rebuilt, not only the types with composite parameters:
// the version is one number for the whole index, so the next bump (which
// may touch any type) needs no list of types kept by hand, and a rebuild
// is a one-off cost at upgrade. AuditEvents have tables of their own and
// no index rows, so they are left alone, as are summary rows (each
// summary kind has its own fingerprint and rebuild).
//
// An advisory lock, held by a transaction on a connection of its own for
// the whole rebuild, makes gateways starting together rebuild once: the
// others wait, then find the version recorded. Each batch is its own
// transaction and takes the row locks of the resources it rebuilds (FOR
// UPDATE, as a write does), so a concurrent write of one of them waits
// for the batch, or the batch waits for the write and reads the body it
// committed; either way the rows left are those of the current body.
// Resources created meanwhile are indexed by their own write. A deadlock
// with a transaction locking the same rows in another order runs the
// batch again. A failure leaves the version unrecorded, and the next
// Open starts over (the rebuild is idempotent).
func reindex(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	lockTx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer lockTx.Rollback(context.WithoutCancel(ctx))
	if _, err := lockTx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, 0)", reindexLock); err != nil {
		return err
	}
	from, found, err := indexVersion(ctx, lockTx)
	if err != nil {
		return err
	}
	if found && from == sqlsearch.IndexVersion {
		return nil
	}
	if !found {
		var stored bool
		if err := lockTx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM resources WHERE NOT deleted)").Scan(&stored); err != nil {
			return err
		}
		if !stored {
			// A new database: its index is built by this version.
			if err := recordIndexVersion(ctx, lockTx); err != nil {
				return err
			}
			return lockTx.Commit(ctx)
		}
		from = sqlsearch.IndexVersionBeforeRecord
	}
	// Batches run on their own connections when the pool has a spare one,
	// so each commits and releases its row locks; with a pool of one they
	// are savepoints of the lock's transaction.
	var begin func(context.Context) (pgx.Tx, error) = pool.Begin
	if pool.Config().MaxConns < 2 {
		begin = lockTx.Begin
	}
	start := time.Now()
	log.Info("search index rebuild started", "from_version", from, "to_version", sqlsearch.IndexVersion)
	var resources, rows int
	afterType, afterID := "", ""
	for {
		var n, r int
		var lastType, lastID string
		for attempt := 0; ; attempt++ {
			n, r, lastType, lastID, err = reindexBatchOnce(ctx, begin, afterType, afterID)
			if err == nil || !retryable(err) || attempt >= 10 {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("after %s/%s: %w", afterType, afterID, err)
		}
		resources, rows = resources+n, rows+r
		if n < reindexBatch {
			break
		}
		afterType, afterID = lastType, lastID
	}
	if err := recordIndexVersion(ctx, lockTx); err != nil {
		return err
	}
	if err := lockTx.Commit(ctx); err != nil {
		return err
	}
	log.Info("search index rebuilt", "from_version", from, "to_version", sqlsearch.IndexVersion,
		"resources", resources, "index_rows", rows, "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// reindexRead, when set (tests), runs after a batch has read its bodies
// and before it writes their rows.
var reindexRead func()

// reindexBatchOnce rebuilds the index rows of the next reindexBatch current
// resources after (afterType, afterID) in one transaction, and returns how
// many resources and rows it wrote and the last resource's key.
func reindexBatchOnce(ctx context.Context, begin func(context.Context) (pgx.Tx, error), afterType, afterID string) (n, rows int, lastType, lastID string, err error) {
	tx, err := begin(ctx)
	if err != nil {
		return 0, 0, "", "", err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	res, err := tx.Query(ctx, `SELECT type, id, body FROM resources
		WHERE NOT deleted AND type <> $1 AND (type, id) > ($2, $3)
		ORDER BY type, id LIMIT $4 FOR UPDATE`, auditType, afterType, afterID, reindexBatch)
	if err != nil {
		return 0, 0, "", "", err
	}
	b := &pgx.Batch{}
	for res.Next() {
		var typ, id string
		var body []byte
		if err := res.Scan(&typ, &id, &body); err != nil {
			res.Close()
			return 0, 0, "", "", err
		}
		n++
		lastType, lastID = typ, id
		r, err := fhir.ParseResource(body)
		if err != nil {
			res.Close()
			return 0, 0, "", "", fmt.Errorf("%s/%s: %w", typ, id, err)
		}
		ix := sqlsearch.RowsOf(r)
		rows += ix.Len()
		mask := tableMask(&ix)
		b.Queue(reindexSQL(mask), append([]any{typ, id}, indexArgs(&ix, mask)...)...)
	}
	res.Close()
	if err := res.Err(); err != nil {
		return 0, 0, "", "", err
	}
	if reindexRead != nil {
		reindexRead()
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return 0, 0, "", "", err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, "", "", err
	}
	return n, rows, lastType, lastID, nil
}

// reindexSQL replaces the index rows of one resource ($1 type, $2 id, then
// the arrays of the tables in mask) in one statement, leaving its summary
// rows alone.
func reindexSQL(mask int) string {
	mask &^= summarizedBit
	if s, ok := reindexSQLs.Load(mask); ok {
		return s.(string)
	}
	ix, _ := indexInserts(mask, 3)
	s := "WITH cur AS (SELECT $1::text AS type, $2::text AS id)" + indexDeletes(mask) + ix + "\nSELECT 1"
	reindexSQLs.Store(mask, s)
	return s
}

// indexVersion reads the recorded index version; found is false when
// there is none.
func indexVersion(ctx context.Context, db dbtx) (v int, found bool, err error) {
	err = db.QueryRow(ctx, "SELECT version FROM search_index_version").Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return v, err == nil, err
}

func recordIndexVersion(ctx context.Context, db dbtx) error {
	_, err := db.Exec(ctx, `INSERT INTO search_index_version (version) VALUES ($1)
		ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version, built_at = now()`, sqlsearch.IndexVersion)
	return err
}
