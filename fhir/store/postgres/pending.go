package postgres

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/signpost-fhir/signpost/fhir"
)

// The audit table's GIN index gathers new entries in a pending list that
// PostgreSQL merges into the index inside whichever insert takes the list
// over gin_pending_list_limit; that insert, and the audit batch and reads
// waiting on it, stall for the merge. The store merges the list itself,
// a few times a second, from a connection no request waits on (migration
// 0010 raises the limit so that inserts reach it only when this falls
// behind). A merge in progress makes an insert that reaches the limit
// skip its own merge rather than wait, so requests never queue behind it.

// DefaultPendingListInterval is how often the store merges the audit
// index's pending list while AuditEvents are being written.
const DefaultPendingListInterval = 200 * time.Millisecond

// WithPendingListInterval sets how often the audit index's pending list
// is merged while AuditEvents are written; 0 leaves it to PostgreSQL
// (merged by the insert that fills it, and by VACUUM).
func WithPendingListInterval(d time.Duration) Option {
	return func(o *options) { o.pendingEvery = d }
}

// WithLogger is where the store reports trouble in its background work.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// CleanAuditPendingList merges the audit index's pending list into the
// index now, and reports how many pending-list pages it merged (0 when
// the list was empty). It needs to own the index, as VACUUM does.
func (s *Store) CleanAuditPendingList(ctx context.Context) (int64, error) {
	var pages int64
	if err := s.pool.QueryRow(ctx, "SELECT gin_clean_pending_list('audit_events_terms'::regclass)").Scan(&pages); err != nil {
		return 0, err
	}
	return pages, nil
}

// pendingCleaner runs CleanAuditPendingList every interval while
// AuditEvents have been written since the last run; an idle store sends
// nothing.
type pendingCleaner struct {
	stop context.CancelFunc
	done chan struct{}
	// upTo is the count of AuditEvents written when the last merge
	// started: it merged the entries of at least that many.
	upTo atomic.Int64
}

// noteAudits counts n AuditEvents committed, so the cleaner knows there
// is something to merge; it is called after the commit, so a merge that
// starts after it sees their entries.
func (s *Store) noteAudits(n int) {
	if n > 0 {
		s.auditWrites.Add(int64(n))
	}
}

// countAudits is how many of rs are AuditEvents.
func countAudits(rs ...*fhir.Resource) int {
	n := 0
	for _, r := range rs {
		if r != nil && r.Type() == auditType {
			n++
		}
	}
	return n
}

// startPendingCleaner starts the cleaner; Close stops it.
func (s *Store) startPendingCleaner(every time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &pendingCleaner{stop: cancel, done: make(chan struct{})}
	s.cleaner = c
	go func() {
		defer close(c.done)
		t := time.NewTicker(every)
		defer t.Stop()
		failing := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			n := s.auditWrites.Load()
			if n == c.upTo.Load() {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, time.Minute)
			_, err := s.CleanAuditPendingList(cctx)
			cancel()
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				var pe *pgconn.PgError
				if errors.As(err, &pe) && pe.Code == "42501" {
					// Not the index's owner: PostgreSQL keeps merging in
					// the inserts, as it does without this cleaner.
					log.Warn("the audit index's pending list cannot be merged by this database user; audited requests may stall while an insert merges it", "error", err.Error())
					return
				}
				if !failing {
					log.Warn("merging the audit index's pending list", "error", err.Error())
				}
				failing = true
			default:
				if failing {
					log.Info("merging the audit index's pending list works again")
				}
				failing = false
				c.upTo.Store(n)
			}
		}
	}()
}

// stopPendingCleaner stops the cleaner and waits for it.
func (s *Store) stopPendingCleaner() {
	if s.cleaner != nil {
		s.cleaner.stop()
		<-s.cleaner.done
	}
}
