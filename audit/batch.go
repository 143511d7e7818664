package audit

import (
	"context"
	"sync"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// batcher commits the AuditEvents of concurrent reads together (group
// commit): a read waits until its record is durable, as "no audit, no
// access" requires, but sixteen concurrent reads cost one statement and
// one disk flush instead of sixteen. A record's cost in the database is
// mostly a fixed cost per statement and commit, so the batcher gathers:
// with no batch committing, what is pending goes at once (an idle gateway
// adds no delay); while one commits, the next waits until gatherTarget
// records are pending or the oldest has waited gatherDelay, whichever
// comes first. Up to maxWorkers batches commit at once; with no
// reads in flight no goroutine runs.
type batcher struct {
	store store.Store
	// maxBatch bounds one transaction.
	maxBatch int
	// observeBatch, when set, is told each batch's size (metrics).
	observeBatch func(n int)
	// delay replaces gatherDelay when set (tests).
	delay time.Duration

	mu         sync.Mutex
	pending    []*job
	workers    int
	committing int
	// kick wakes a gathering worker: enough is pending, or a commit ended.
	kick chan struct{}
}

// maxWorkers is how many batches may commit at once: one batch
// gathers while others wait on the disk.
const maxWorkers = 4

// gatherTarget and gatherDelay bound how long a record waits to share a
// batch while another batch commits. At 16 concurrent reads on two cores
// batches that went as soon as one record was pending held 1.9 records
// on average; the database's fixed cost per statement was then most of
// a read's cost.
const (
	gatherTarget = 8
	gatherDelay  = time.Millisecond
)

type job struct {
	r    *fhir.Resource
	at   time.Time
	done chan error
}

// batchTimeout bounds one batch's commit, whatever the callers'
// deadlines: a record some caller is waiting for is never abandoned half
// way because another caller gave up.
const batchTimeout = 10 * time.Second

// submit stores r with the next batch and waits until that batch has
// committed (or ctx ends: the record may then still be written, which errs
// on the side of the audit trail).
func (b *batcher) submit(ctx context.Context, r *fhir.Resource) error {
	j := &job{r: r, at: time.Now(), done: make(chan error, 1)}
	b.mu.Lock()
	if b.kick == nil {
		b.kick = make(chan struct{}, 1)
	}
	b.pending = append(b.pending, j)
	if b.workers < maxWorkers {
		b.workers++
		go b.run()
	} else if len(b.pending) >= gatherTarget {
		b.wake()
	}
	b.mu.Unlock()
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wake tells one gathering worker to look again; b.mu is held.
func (b *batcher) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// next takes the next batch, waiting while it gathers; nil when nothing
// is pending and the worker should end.
func (b *batcher) next() []*job {
	b.mu.Lock()
	for {
		n := len(b.pending)
		if n == 0 {
			b.workers--
			b.mu.Unlock()
			return nil
		}
		delay := gatherDelay
		if b.delay > 0 {
			delay = b.delay
		}
		wait := delay - time.Since(b.pending[0].at)
		if b.committing == 0 || n >= gatherTarget || wait <= 0 {
			n = min(n, b.maxBatch)
			jobs := b.pending[:n:n]
			b.pending = b.pending[n:]
			b.committing++
			b.mu.Unlock()
			return jobs
		}
		kick := b.kick
		b.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-kick:
		case <-t.C:
		}
		t.Stop()
		b.mu.Lock()
	}
}

func (b *batcher) run() {
	for {
		jobs := b.next()
		if jobs == nil {
			return
		}
		if b.observeBatch != nil {
			b.observeBatch(len(jobs))
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		err := b.commit(ctx, jobs)
		cancel()
		b.mu.Lock()
		b.committing--
		if b.committing == 0 && len(b.pending) > 0 {
			b.wake()
		}
		b.mu.Unlock()
		for _, j := range jobs {
			j.done <- err
		}
	}
}

func (b *batcher) commit(ctx context.Context, jobs []*job) error {
	if bc, ok := b.store.(store.BulkCreator); ok {
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
