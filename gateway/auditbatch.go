package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// auditBatcher commits the AuditEvents of concurrent reads together (group
// commit): a read waits until its record is durable, as "no audit, no
// access" requires, but sixteen concurrent reads cost one transaction and
// one disk flush instead of sixteen. While one batch commits, the next
// gathers (up to maxAuditWorkers batches at once); with no reads in flight
// no goroutine runs.
type auditBatcher struct {
	store store.Store
	// maxBatch bounds one transaction.
	maxBatch int
	// observeBatch, when set, is told each batch's size (metrics).
	observeBatch func(n int)

	mu      sync.Mutex
	pending []*auditJob
	workers int
}

// maxAuditWorkers is how many batches may commit at once: one batch
// gathers while others wait on the disk.
const maxAuditWorkers = 4

// bulkCreator is a store that can create many resources in one go (the
// PostgreSQL store pipelines them); others get one transaction of creates.
type bulkCreator interface {
	CreateAll(ctx context.Context, rs []*fhir.Resource) ([]store.Version, error)
}

type auditJob struct {
	r    *fhir.Resource
	done chan error
}

// auditBatchTimeout bounds one batch's commit, whatever the callers'
// deadlines: a record some caller is waiting for is never abandoned half
// way because another caller gave up.
const auditBatchTimeout = 10 * time.Second

// submit stores r with the next batch and waits until that batch has
// committed (or ctx ends: the record may then still be written, which errs
// on the side of the audit trail).
func (b *auditBatcher) submit(ctx context.Context, r *fhir.Resource) error {
	job := &auditJob{r: r, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, job)
	if b.workers < maxAuditWorkers {
		b.workers++
		go b.run()
	}
	b.mu.Unlock()
	select {
	case err := <-job.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *auditBatcher) run() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), b.maxBatch)
		if n == 0 {
			b.workers--
			b.mu.Unlock()
			return
		}
		jobs := b.pending[:n:n]
		b.pending = b.pending[n:]
		b.mu.Unlock()
		if b.observeBatch != nil {
			b.observeBatch(n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), auditBatchTimeout)
		err := b.commit(ctx, jobs)
		cancel()
		for _, j := range jobs {
			j.done <- err
		}
	}
}

func (b *auditBatcher) commit(ctx context.Context, jobs []*auditJob) error {
	if bc, ok := b.store.(bulkCreator); ok {
		rs := make([]*fhir.Resource, len(jobs))
		for i, j := range jobs {
			rs[i] = j.r
		}
		_, err := bc.CreateAll(ctx, rs)
		return err
	}
	return b.store.Transaction(ctx, func(tx store.Tx) error {
		for _, j := range jobs {
			if _, err := tx.Create(ctx, j.r); err != nil {
				return err
			}
		}
		return nil
	})
}
