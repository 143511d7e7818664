package audit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlite"
)

// countingStore counts transactions on a real store.
type countingStore struct {
	store.Store
	txs atomic.Int32
}

func (c *countingStore) Transaction(ctx context.Context, fn func(store.Tx) error) error {
	c.txs.Add(1)
	return c.Store.Transaction(ctx, fn)
}

func TestAuditBatcherCommitsEveryRecordInFewerTransactions(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	require.NoError(t, err)
	defer st.Close()
	cs := &countingStore{Store: st}
	b := &batcher{store: cs, maxBatch: 128}
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			r, err := fhir.ParseResource(fmt.Appendf(nil, `{"resourceType":"AuditEvent","id":"a%d","recorded":"2026-11-21T07:00:00Z"}`, i))
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = b.submit(context.Background(), r)
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "record %d", i)
	}
	page, err := st.History(context.Background(), store.HistoryQuery{Type: "AuditEvent"})
	require.NoError(t, err)
	require.Equal(t, n, page.Total, "every submitted record is stored, once")
	require.Less(t, int(cs.txs.Load()), n, "concurrent records share transactions")
	t.Logf("%d records in %d transactions", n, cs.txs.Load())
}

// gatedStore holds each CreateAll until the test lets it go.
type gatedStore struct {
	store.Store
	entered chan int
	release chan struct{}
}

func (g *gatedStore) CreateAll(ctx context.Context, rs []*fhir.Resource) ([]store.Version, error) {
	g.entered <- len(rs)
	<-g.release
	out := make([]store.Version, len(rs))
	return out, g.Store.Transaction(ctx, func(tx store.Tx) error {
		for _, r := range rs {
			if _, err := tx.Create(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// While a batch commits, the records that arrive wait to go together
// instead of each taking a worker of its own; an idle batcher sends a
// lone record at once.
func TestAuditBatcherGathersWhileABatchCommits(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	require.NoError(t, err)
	defer st.Close()
	g := &gatedStore{Store: st, entered: make(chan int, 16), release: make(chan struct{})}
	// No deadline: only the end of the first commit may send the rest.
	b := &batcher{store: g, maxBatch: 128, delay: time.Hour}
	submit := func(wg *sync.WaitGroup, i int) {
		wg.Go(func() {
			r, err := fhir.ParseResource(fmt.Appendf(nil, `{"resourceType":"AuditEvent","id":"g%d","recorded":"2026-11-21T07:00:00Z"}`, i))
			if assert.NoError(t, err) {
				assert.NoError(t, b.submit(context.Background(), r))
			}
		})
	}
	var wg sync.WaitGroup
	submit(&wg, 0)
	require.Equal(t, 1, <-g.entered, "a lone record goes at once")
	const later = 5
	for i := 1; i <= later; i++ {
		submit(&wg, i)
	}
	// The five, fewer than gatherTarget, wait for the first batch.
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.pending) == later
	}, 5*time.Second, time.Millisecond, "the later records wait while the first batch commits")
	close(g.release)
	require.Equal(t, later, <-g.entered, "the records that waited go as one batch")
	wg.Wait()
	page, err := st.History(context.Background(), store.HistoryQuery{Type: "AuditEvent"})
	require.NoError(t, err)
	require.Equal(t, 1+later, page.Total)
}
