package gateway

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

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
	st, err := sqlite.Open(context.Background(), t.TempDir())
	require.NoError(t, err)
	defer st.Close()
	cs := &countingStore{Store: st}
	b := &auditBatcher{store: cs, maxBatch: 128}
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
