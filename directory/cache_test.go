package directory

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/internal/pgtest"
	"github.com/signpost-fhir/signpost/mapping"
)

func hsResource(t *testing.T, id, name string) *fhir.Resource {
	t.Helper()
	r, err := fhir.ParseResource([]byte(`{"resourceType":"HealthcareService","id":"` + id + `","name":"` + name + `"}`))
	require.NoError(t, err)
	return r
}

func names(snap *Snapshot) map[string]string {
	out := map[string]string{}
	for _, c := range snap.list {
		out[c.cand.Service.ID] = c.cand.Service.Name
	}
	return out
}

// TestDirectoryCacheLateCommit: a transaction stamped before a refresh
// but committed after it is still picked up, and so are deletions and
// writes from another process, with no clock or message involved.
func TestDirectoryCacheLateCommit(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	c := NewCache(st, mapping.NewDirectory(""), time.Minute, time.Now)

	_, err = st.Update(ctx, hsResource(t, "a", "A"), store.Precondition{})
	require.NoError(t, err)
	snap, err := c.Snapshot(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "A"}, names(snap))

	// b is stamped now and committed only after another write and a
	// refresh.
	written, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- st.Transaction(ctx, func(tx store.Tx) error {
			if _, err := tx.Update(ctx, hsResource(t, "b", "B"), store.Precondition{}); err != nil {
				return err
			}
			close(written)
			<-release
			return nil
		})
	}()
	<-written
	time.Sleep(1200 * time.Millisecond) // b's stamp falls in an older counted range
	_, err = st.Update(ctx, hsResource(t, "c", "C"), store.Precondition{})
	require.NoError(t, err)
	snap, err = c.Snapshot(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "A", "c": "C"}, names(snap))
	close(release)
	require.NoError(t, <-done)
	snap, err = c.Snapshot(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "A", "b": "B", "c": "C"}, names(snap), "the late commit is read")

	// An update and a delete.
	_, err = st.Update(ctx, hsResource(t, "a", "A2"), store.Precondition{})
	require.NoError(t, err)
	_, err = st.Delete(ctx, "HealthcareService", "c", store.Precondition{})
	require.NoError(t, err)
	snap, err = c.Snapshot(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "A2", "b": "B"}, names(snap))

	// Quiet: the same snapshot, no reading.
	again, err := c.Snapshot(ctx)
	require.NoError(t, err)
	require.Same(t, snap, again)
}

// TestDirectoryCacheWatermarkFollowsTheClock: a quiet directory is
// re-marked once its mark is older than the overlap, so the count each
// check makes covers recent versions only, not the last sync's; what is
// written afterwards is still read.
func TestDirectoryCacheWatermarkFollowsTheClock(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	const overlap = 300 * time.Millisecond
	c := NewCache(st, mapping.NewDirectory(""), overlap, time.Now)

	_, err = st.Update(ctx, hsResource(t, "a", "A"), store.Precondition{})
	require.NoError(t, err)
	snap, err := c.Snapshot(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "A"}, names(snap))
	first := c.bounds[0]
	require.Equal(t, 1, c.total, "the version of a is after the first watermark")

	// Within the overlap: the same mark and snapshot.
	again, err := c.Snapshot(ctx)
	require.NoError(t, err)
	require.Same(t, snap, again)
	require.Equal(t, first, c.bounds[0])

	// Past it: re-marked, the watermark after a's version, nothing lost.
	time.Sleep(overlap + 100*time.Millisecond)
	snap, err = c.Snapshot(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "A"}, names(snap))
	require.True(t, c.bounds[0].After(first), "the watermark moved on")
	require.Equal(t, 0, c.total, "no version after the new watermark")
	require.Same(t, again, snap, "nothing changed: the same snapshot, not a rebuilt one")

	// What is written after the re-mark is read.
	_, err = st.Update(ctx, hsResource(t, "b", "B"), store.Precondition{})
	require.NoError(t, err)
	snap, err = c.Snapshot(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "A", "b": "B"}, names(snap))
}

// TestDirectoryCacheSharedChecks: callers arriving together share
// freshness checks, and each still sees every write committed before it
// asked.
func TestDirectoryCacheSharedChecks(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	c := NewCache(st, mapping.NewDirectory(""), time.Minute, time.Now)
	_, err = c.Snapshot(ctx)
	require.NoError(t, err)
	for round := 0; round < 10; round++ {
		id := fmt.Sprintf("s%d", round)
		_, err := st.Update(ctx, hsResource(t, id, "S"), store.Precondition{})
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				snap, err := c.Snapshot(ctx)
				if err == nil && names(snap)[id] == "" {
					err = fmt.Errorf("round %d: %s, committed before the call, is missing", round, id)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}
	c.flight.Lock()
	defer c.flight.Unlock()
	require.Nil(t, c.queued, "no check is left queued")
}

// gatedStore holds HistoryQuery calls, once gated, until their context
// ends, and counts those under way.
type gatedStore struct {
	store.Store
	gate    atomic.Bool
	inside  atomic.Int32
	entered chan struct{}
}

func (s *gatedStore) History(ctx context.Context, q store.HistoryQuery) (store.HistoryPage, error) {
	if !s.gate.Load() {
		return s.Store.History(ctx, q)
	}
	s.inside.Add(1)
	defer s.inside.Add(-1)
	s.entered <- struct{}{}
	<-ctx.Done()
	return store.HistoryPage{}, ctx.Err()
}

// TestDirectoryCacheCloseStopsQueuedChecks: a check queued behind
// another runs on a goroutine of the cache's own; Close stops it and
// returns only once it has ended, and its callers get the error rather
// than a check that nobody finishes.
func TestDirectoryCacheCloseStopsQueuedChecks(t *testing.T) {
	ctx := context.Background()
	pg, err := postgres.Open(ctx, pgtest.URL(t))
	require.NoError(t, err)
	t.Cleanup(func() { pg.Close() })
	st := &gatedStore{Store: pg, entered: make(chan struct{}, 16)}
	c := NewCache(st, mapping.NewDirectory(""), time.Minute, time.Now)
	_, err = c.Snapshot(ctx)
	require.NoError(t, err)

	st.gate.Store(true)
	firstCtx, cancelFirst := context.WithCancel(ctx)
	first, queued := make(chan error, 1), make(chan error, 1)
	go func() { _, err := c.Snapshot(firstCtx); first <- err }()
	<-st.entered // the first caller checks, on its own goroutine
	go func() { _, err := c.Snapshot(ctx); queued <- err }()
	for {
		c.flight.Lock()
		waiting := c.queued != nil
		c.flight.Unlock()
		if waiting {
			break
		}
		runtime.Gosched()
	}
	cancelFirst()
	require.ErrorIs(t, <-first, context.Canceled)
	<-st.entered // the queued check, on the cache's goroutine

	c.Close()
	require.Zero(t, st.inside.Load(), "Close returned while the queued check was still running")
	require.ErrorIs(t, <-queued, context.Canceled)

	// Once closed, a caller with no check under way still checks for
	// itself.
	st.gate.Store(false)
	_, err = c.Snapshot(ctx)
	require.NoError(t, err)
}
