package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Optional says which of the optional interfaces (store's optional.go)
// a store provides: on the Store itself, or on the Tx its Transaction
// hands out.
type Optional struct {
	// On the Store.
	BulkCreator, OutboxStatser, ChangeCounter, Availability bool
	// On the Tx.
	BatchCreator, TokenMatcher, MultiLocker bool
}

// RunOptional checks that the store open returns (as for Run) provides
// exactly the optional interfaces of want, and that each it provides
// agrees with the way round it that callers take without it: BulkCreator
// and BatchCreator with Create and Update one by one, TokenMatcher with a
// search of each pair, MultiLocker with Lock, OutboxStatser with what the
// outbox holds, ChangeCounter with the versions committed. (Availability,
// and what each store's counters do inside a transaction, have their own
// tests in the stores.)
func RunOptional(t *testing.T, open func(t *testing.T) store.Store, want Optional) {
	t.Run("Provides", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		got := Optional{}
		_, got.BulkCreator = s.(store.BulkCreator)
		_, got.OutboxStatser = s.(store.OutboxStatser)
		_, got.ChangeCounter = s.(store.ChangeCounter)
		_, got.Availability = s.(store.Availability)
		require.NoError(t, s.Transaction(testContext(t), func(tx store.Tx) error {
			_, got.BatchCreator = tx.(store.BatchCreator)
			_, got.TokenMatcher = tx.(store.TokenMatcher)
			_, got.MultiLocker = tx.(store.MultiLocker)
			return nil
		}))
		assert.Equal(t, want, got)
	})
	tests := []struct {
		name string
		on   bool
		test func(t *testing.T, s store.Store)
	}{
		{"BulkCreator", want.BulkCreator, testBulkCreator},
		{"BatchCreator", want.BatchCreator, testBatchCreator},
		{"TokenMatcher", want.TokenMatcher, testTokenMatcher},
		{"MultiLocker", want.MultiLocker, testMultiLocker},
		{"OutboxStatser", want.OutboxStatser, testOutboxStatser},
		{"ChangeCounter", want.ChangeCounter, testChangeCounter},
	}
	for _, tc := range tests {
		if !tc.on {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

// content is a stored body without what the store stamps (id, meta), so
// that twins written under different ids compare equal.
func content(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m))
	delete(m, "id")
	delete(m, "meta")
	return m
}

// sameWrite compares what two writes of twins reported, and what each
// stored.
func sameWrite(t *testing.T, s store.Store, fast, slow store.WriteResult) {
	t.Helper()
	ctx := testContext(t)
	f, w := fast.Version, slow.Version
	assert.Equal(t, slow.Created, fast.Created, "Created of %s", describe(f))
	assert.Equal(t, slow.Unchanged, fast.Unchanged, "Unchanged of %s", describe(f))
	assert.Equal(t, w.VersionID, f.VersionID, "version of %s", describe(f))
	assert.Equal(t, w.Method, f.Method, "method of %s", describe(f))
	assert.Equal(t, content(t, w.Body), content(t, f.Body), "body of %s", describe(f))
	stored := try(s.Read(ctx, f.Type, f.ID)).must(t)
	sameVersion(t, stored, f)
}

// testBulkCreator: Store.CreateAll stores what Create would, all or
// none.
func testBulkCreator(t *testing.T, s store.Store) {
	ctx := testContext(t)
	bc := s.(store.BulkCreator)
	slow := []store.WriteResult{
		try(s.Create(ctx, patient(t, "slow-1", "One"))).must(t),
		try(s.Create(ctx, task(t, "slow-2", "requested"))).must(t),
	}
	fast := try(bc.CreateAll(ctx, []*fhir.Resource{patient(t, "fast-1", "One"), task(t, "fast-2", "requested")})).must(t)
	require.Len(t, fast, len(slow))
	for i, v := range fast {
		sameWrite(t, s, store.WriteResult{Version: v, Created: true}, slow[i])
	}
	_, err := bc.CreateAll(ctx, []*fhir.Resource{patient(t, "fast-3", "Three"), patient(t, "fast-1", "One")})
	wantError(t, err, fhir.CodeDuplicate, 0)
	_, err = s.Read(ctx, "Patient", "fast-3")
	assert.ErrorIs(t, err, fhir.ErrNotFound, "a failed CreateAll stores nothing")
}

// testBatchCreator: Tx.CreateAll and Tx.UpdateAll report and store what
// Create and Update one by one would, for twins under other ids:
// creates, a changed update, an unchanged one and an update as create.
func testBatchCreator(t *testing.T, s store.Store) {
	ctx := testContext(t)
	for _, side := range []string{"fast", "slow"} {
		try(s.Create(ctx, patient(t, side+"-u1", "Before"))).must(t)
		try(s.Create(ctx, patient(t, side+"-u2", "Same"))).must(t)
	}
	creates := func(side string) []*fhir.Resource {
		return []*fhir.Resource{patient(t, side+"-c1", "New"), task(t, side+"-c2", "requested")}
	}
	updates := func(side string) []*fhir.Resource {
		return []*fhir.Resource{patient(t, side+"-u1", "After"), patient(t, side+"-u2", "Same"), patient(t, side+"-n1", "AsCreate")}
	}
	var fast, slow []store.WriteResult
	require.NoError(t, s.Transaction(ctx, func(tx store.Tx) error {
		bc := tx.(store.BatchCreator)
		c, err := bc.CreateAll(ctx, creates("fast"))
		if err != nil {
			return err
		}
		u, err := bc.UpdateAll(ctx, updates("fast"))
		fast = append(c, u...)
		return err
	}))
	require.NoError(t, s.Transaction(ctx, func(tx store.Tx) error {
		for _, r := range creates("slow") {
			res, err := tx.Create(ctx, r)
			if err != nil {
				return err
			}
			slow = append(slow, res)
		}
		for _, r := range updates("slow") {
			res, err := tx.Update(ctx, r, none())
			if err != nil {
				return err
			}
			slow = append(slow, res)
		}
		return nil
	}))
	require.Len(t, fast, len(slow))
	for i := range fast {
		sameWrite(t, s, fast[i], slow[i])
	}
	assert.True(t, fast[3].Unchanged, "the unchanged update")
	assert.True(t, fast[4].Created, "the update as create")

	err := s.Transaction(ctx, func(tx store.Tx) error {
		_, err := tx.(store.BatchCreator).CreateAll(ctx, []*fhir.Resource{patient(t, "fast-d1", "Dup"), patient(t, "fast-c1", "Dup")})
		return err
	})
	wantError(t, err, fhir.CodeDuplicate, 0)
	_, err = s.Read(ctx, "Patient", "fast-d1")
	assert.ErrorIs(t, err, fhir.ErrNotFound, "the transaction of a failed CreateAll stores nothing")
}

// testTokenMatcher: TokenMatches finds for each pair the first two (by
// id) of what a search identifier=system|code finds, live resources
// only, and no key for a pair that finds nothing.
func testTokenMatcher(t *testing.T, s store.Store) {
	ctx := testContext(t)
	withID := func(id string, ids ...[2]string) *fhir.Resource {
		var list []map[string]string
		for _, x := range ids {
			list = append(list, map[string]string{"system": x[0], "value": x[1]})
		}
		b, err := json.Marshal(map[string]any{"resourceType": "Patient", "id": id, "identifier": list})
		require.NoError(t, err)
		return parse(t, string(b))
	}
	const s1, s2 = "https://one.example", "https://two.example"
	for _, r := range []*fhir.Resource{
		withID("p1", [2]string{s1, "a"}),
		withID("p4", [2]string{s1, "b"}),
		withID("p2", [2]string{s1, "b"}, [2]string{s2, "a"}),
		withID("p3", [2]string{s1, "b"}),
		withID("p5", [2]string{s1, "c"}),
		withID("p6", [2]string{s2, "c"}),
	} {
		try(s.Create(ctx, r)).must(t)
	}
	try(s.Delete(ctx, "Patient", "p5", none())).must(t)
	try(s.Create(ctx, task(t, "t1", "requested"))).must(t)
	pairs := [][2]string{{s1, "a"}, {s1, "b"}, {s1, "c"}, {s2, "a"}, {s2, "c"}, {s2, "b"}, {"https://three.example", "a"}, {s1, "a"}}
	systems, codes := make([]string, len(pairs)), make([]string, len(pairs))
	for i, p := range pairs {
		systems[i], codes[i] = p[0], p[1]
	}
	require.NoError(t, s.Transaction(ctx, func(tx store.Tx) error {
		got, err := tx.(store.TokenMatcher).TokenMatches(ctx, "Patient", "identifier", systems, codes)
		require.NoError(t, err)
		for i, p := range pairs {
			found, _ := searchAll(t, tx, parseQuery(t, "Patient", "identifier="+p[0]+"|"+p[1]), 10)
			want := []string{}
			for _, f := range found {
				want = append(want, strings.TrimPrefix(f, "Patient/"))
			}
			slices.Sort(want)
			want = want[:min(2, len(want))]
			vs, ok := got[i]
			assert.Equal(t, len(want) > 0, ok, "a key for pair %d (%s) when it finds something", i, p)
			have := []string{}
			for _, v := range vs {
				have = append(have, v.ID)
				sameVersion(t, v, try(tx.Read(ctx, v.Type, v.ID)).must(t))
			}
			assert.Equal(t, want, have, "pair %d (%s)", i, p)
		}
		return nil
	}))
}

// testMultiLocker: LockAll takes each key as Lock does: a transaction
// that locks one of them waits until the locker's transaction ends.
func testMultiLocker(t *testing.T, s store.Store) {
	ctx := testContext(t)
	require.NoError(t, s.Transaction(ctx, func(tx store.Tx) error {
		ml := tx.(store.MultiLocker)
		require.NoError(t, ml.LockAll(ctx, nil))
		return ml.LockAll(ctx, []string{"k/1", "k/2", "k/3"})
	}), "keys taken again in a new transaction: the first released them")

	locked, ended := make(chan struct{}), atomic.Bool{}
	holder := make(chan error, 1)
	go func() {
		holder <- s.Transaction(ctx, func(tx store.Tx) error {
			if err := tx.(store.MultiLocker).LockAll(ctx, []string{"h/1", "h/2"}); err != nil {
				return err
			}
			close(locked)
			// Long enough for a waiter that is not held back to get
			// through; the outcome does not depend on it.
			time.Sleep(100 * time.Millisecond)
			ended.Store(true)
			return nil
		})
	}()
	<-locked
	var sawEnd bool
	require.NoError(t, s.Transaction(ctx, func(tx store.Tx) error {
		if err := tx.Lock(ctx, "h/2"); err != nil {
			return err
		}
		sawEnd = ended.Load()
		return nil
	}))
	require.NoError(t, <-holder)
	assert.True(t, sawEnd, "Lock of a key LockAll holds waited for the holder's transaction to end")
}

// testOutboxStatser: OutboxStats counts what the outbox holds by status,
// and the oldest delivery still to be sent.
func testOutboxStatser(t *testing.T, s store.Store) {
	ctx := testContext(t)
	st, o := s.(store.OutboxStatser), outbox(t, s)
	stats := try(st.OutboxStats(ctx)).must(t)
	assert.Zero(t, stats.Depth[store.DeliveryPending]+stats.Depth[store.DeliveryInFlight]+stats.Depth[store.DeliveryDead])
	assert.True(t, stats.OldestPending.IsZero(), "no delivery: no oldest")

	before := time.Now().Add(-time.Second)
	for i, task := range []string{"t1", "t1", "t2"} {
		require.NoError(t, s.Enqueue(ctx, delivery(task, fmt.Sprintf(`{"n":%d}`, i))))
	}
	stats = try(st.OutboxStats(ctx)).must(t)
	assert.Equal(t, int64(3), stats.Depth[store.DeliveryPending])
	assert.Zero(t, stats.Depth[store.DeliveryInFlight])
	assert.False(t, stats.OldestPending.Before(before), "oldest %v", stats.OldestPending)

	claimed := claimAll(t, o, time.Now().Add(time.Second))
	stats = try(st.OutboxStats(ctx)).must(t)
	assert.Equal(t, int64(len(claimed)), stats.Depth[store.DeliveryInFlight])
	assert.Equal(t, int64(3-len(claimed)), stats.Depth[store.DeliveryPending])
}

// HealthcareService is a HealthcareService with id and name: a type the
// stores keep a change counter of.
func HealthcareService(t testing.TB, id, name string) *fhir.Resource {
	t.Helper()
	r, err := fhir.ParseResource(fmt.Appendf(nil, `{"resourceType":"HealthcareService","id":%q,"name":%q}`, id, name))
	require.NoError(t, err)
	return r
}

// testChangeCounter: the HealthcareService counter moves by one with each
// committed version (create, update, delete), never for other types or
// for a transaction that failed.
func testChangeCounter(t *testing.T, s store.Store) {
	ctx := testContext(t)
	cc := s.(store.ChangeCounter)
	changes := func() int64 {
		t.Helper()
		n, ok, err := cc.Changes(ctx, "HealthcareService")
		require.NoError(t, err)
		require.True(t, ok)
		return n
	}
	_, ok, err := cc.Changes(ctx, "Task")
	require.NoError(t, err)
	assert.False(t, ok, "Task is not counted")

	base := changes()
	_, err = s.Update(ctx, HealthcareService(t, "s1", "A"), store.Precondition{})
	require.NoError(t, err)
	assert.Equal(t, base+1, changes(), "create")
	_, err = s.Update(ctx, HealthcareService(t, "s1", "B"), store.Precondition{})
	require.NoError(t, err)
	assert.Equal(t, base+2, changes(), "update")
	_, err = s.Delete(ctx, "HealthcareService", "s1", store.Precondition{})
	require.NoError(t, err)
	assert.Equal(t, base+3, changes(), "delete")
	task, err := fhir.ParseResource([]byte(`{"resourceType":"Task","id":"t","status":"requested","intent":"order"}`))
	require.NoError(t, err)
	_, err = s.Update(ctx, task, store.Precondition{})
	require.NoError(t, err)
	assert.Equal(t, base+3, changes(), "another type")
	err = s.Transaction(ctx, func(tx store.Tx) error {
		if _, err := tx.Update(ctx, HealthcareService(t, "s2", "A"), store.Precondition{}); err != nil {
			return err
		}
		return fmt.Errorf("changed its mind")
	})
	require.Error(t, err)
	assert.Equal(t, base+3, changes(), "a failed transaction")
}
