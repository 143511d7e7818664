package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// outbox is the store's Outbox; every store must have one.
func outbox(t *testing.T, s store.Store) store.Outbox {
	t.Helper()
	o, ok := s.(store.Outbox)
	if !ok {
		t.Fatalf("%T does not implement store.Outbox", s)
	}
	return o
}

func delivery(task, payload string) store.Delivery {
	return store.Delivery{Endpoint: "A81001", TaskID: task, Payload: []byte(payload)}
}

// claimAll claims everything due at now.
func claimAll(t *testing.T, o store.Outbox, now time.Time) []store.Delivery {
	t.Helper()
	ds, err := o.Claim(testContext(t), now, 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func keys(ds []store.Delivery) map[string]bool {
	out := map[string]bool{}
	for _, d := range ds {
		out[fmt.Sprintf("%s/%d", d.TaskID, d.Seq)] = true
	}
	return out
}

// testOutboxOrderPerTask: only the head of each Task's queue is claimed;
// the next comes once the head is delivered.
func testOutboxOrderPerTask(t *testing.T, s store.Store) {
	ctx := testContext(t)
	o := outbox(t, s)
	for _, d := range []store.Delivery{delivery("t1", `{"n":1}`), delivery("t1", `{"n":2}`), delivery("t2", `{"n":1}`), delivery("t1", `{"n":3}`)} {
		if err := s.Enqueue(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Add(time.Second)
	got := claimAll(t, o, now)
	if k := keys(got); len(got) != 2 || !k["t1/1"] || !k["t2/1"] {
		t.Fatalf("first claim = %v, want t1/1 and t2/1", k)
	}
	for _, d := range got {
		if d.Status != store.DeliveryInFlight || d.Attempts != 1 || d.Endpoint != "A81001" || string(d.Payload) != `{"n":1}` {
			t.Fatalf("claimed %+v", d)
		}
	}
	if again := claimAll(t, o, now); len(again) != 0 {
		t.Fatalf("claimed %v while in flight", keys(again))
	}
	for _, d := range got {
		if d.TaskID != "t1" {
			continue
		}
		if ok, err := o.MarkDelivered(ctx, d, now); err != nil || !ok {
			t.Fatalf("mark delivered = %v, %v", ok, err)
		}
	}
	next := claimAll(t, o, now)
	if k := keys(next); len(next) != 1 || !k["t1/2"] || string(next[0].Payload) != `{"n":2}` {
		t.Fatalf("after t1/1 delivered, claimed %v, want t1/2", k)
	}
	list, err := o.Deliveries(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Status != store.DeliveryDelivered || list[0].DeliveredAt.IsZero() || list[1].Status != store.DeliveryInFlight || list[2].Status != store.DeliveryPending {
		t.Fatalf("deliveries of t1: %+v", list)
	}
}

// testOutboxBackoffAndDeadLetter: a failed attempt waits until retryAt;
// a dead one holds back its Task and is listed until requeued.
func testOutboxBackoffAndDeadLetter(t *testing.T, s store.Store) {
	ctx := testContext(t)
	o := outbox(t, s)
	for _, p := range []string{`{"n":1}`, `{"n":2}`} {
		if err := s.Enqueue(ctx, delivery("t1", p)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Add(time.Second)
	d := claimAll(t, o, now)
	if len(d) != 1 {
		t.Fatalf("claimed %d", len(d))
	}
	retry := now.Add(time.Minute)
	if ok, err := o.MarkFailed(ctx, d[0], "HTTP 503", retry, false); err != nil || !ok {
		t.Fatalf("mark failed = %v, %v", ok, err)
	}
	if got := claimAll(t, o, retry.Add(-time.Millisecond)); len(got) != 0 {
		t.Fatalf("claimed %v before its retry time", keys(got))
	}
	d = claimAll(t, o, retry)
	if len(d) != 1 || d[0].Seq != 1 || d[0].Attempts != 2 || d[0].LastError != "HTTP 503" {
		t.Fatalf("retry claim = %+v", d)
	}
	if ok, err := o.MarkFailed(ctx, d[0], "HTTP 422: refused", time.Time{}, true); err != nil || !ok {
		t.Fatalf("mark dead = %v, %v", ok, err)
	}
	if got := claimAll(t, o, retry.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("claimed %v behind a dead letter", keys(got))
	}
	dead, err := o.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != d[0].ID || dead[0].LastError != "HTTP 422: refused" || dead[0].Status != store.DeliveryDead {
		t.Fatalf("dead letters = %+v", dead)
	}
	if err := o.Requeue(ctx, d[0].ID, now); err != nil {
		t.Fatal(err)
	}
	if err := o.Requeue(ctx, d[0].ID, now); !errors.Is(err, fhir.ErrNotFound) {
		t.Fatalf("requeue of what is not dead = %v, want not-found", err)
	}
	if dead, _ := o.DeadLetters(ctx, 10); len(dead) != 0 {
		t.Fatalf("still dead after requeue: %+v", dead)
	}
	d = claimAll(t, o, now)
	if len(d) != 1 || d[0].Seq != 1 || d[0].Attempts != 1 {
		t.Fatalf("claim after requeue = %+v", d)
	}
}

// testOutboxLease: a claim whose lease ran out is claimed again, and the
// first claimer's late result no longer counts.
func testOutboxLease(t *testing.T, s store.Store) {
	ctx := testContext(t)
	o := outbox(t, s)
	if err := s.Enqueue(ctx, delivery("t1", `{}`)); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(time.Second)
	first, err := o.Claim(ctx, now, 10, time.Second)
	if err != nil || len(first) != 1 {
		t.Fatalf("claim = %v, %v", first, err)
	}
	second, err := o.Claim(ctx, now.Add(2*time.Second), 10, time.Minute)
	if err != nil || len(second) != 1 || second[0].Attempts != 2 {
		t.Fatalf("claim after the lease = %+v, %v", second, err)
	}
	if ok, err := o.MarkDelivered(ctx, first[0], now); err != nil || ok {
		t.Fatalf("stale claimer's mark = %v, %v; want false", ok, err)
	}
	if ok, err := o.MarkDelivered(ctx, second[0], now); err != nil || !ok {
		t.Fatalf("mark = %v, %v", ok, err)
	}
}

// testOutboxRenew: a claim that still holds is extended, and nobody else
// claims the delivery meanwhile; a claim that was taken over, or whose
// delivery was recorded, cannot be renewed (the fence before each send).
func testOutboxRenew(t *testing.T, s store.Store) {
	ctx := testContext(t)
	o := outbox(t, s)
	for _, p := range []string{`{"n":1}`, `{"n":2}`} {
		if err := s.Enqueue(ctx, delivery("t1", p)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Add(time.Second)
	first, err := o.Claim(ctx, now, 10, time.Second)
	if err != nil || len(first) != 1 {
		t.Fatalf("claim = %v, %v", first, err)
	}
	// Renewed (even a moment after the lease ran out, as nobody took it).
	if ok, err := o.Renew(ctx, first[0], now.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("renew of a held claim = %v, %v", ok, err)
	}
	if got := claimAll(t, o, now.Add(30*time.Second)); len(got) != 0 {
		t.Fatalf("claimed %v under a renewed lease", keys(got))
	}
	// The lease runs out; another claimer takes the delivery.
	second, err := o.Claim(ctx, now.Add(2*time.Minute), 10, time.Minute)
	if err != nil || len(second) != 1 || second[0].ID != first[0].ID || second[0].Attempts != 2 {
		t.Fatalf("claim after the lease = %+v, %v", second, err)
	}
	if ok, err := o.Renew(ctx, first[0], now.Add(time.Hour)); err != nil || ok {
		t.Fatalf("renew of a lost claim = %v, %v; want false", ok, err)
	}
	if list, _ := o.Deliveries(ctx, "t1"); !list[0].NextAttemptAt.Equal(now.Add(3 * time.Minute).UTC().Truncate(time.Microsecond)) {
		t.Fatalf("a lost claim's renewal moved the lease: %v", list[0].NextAttemptAt)
	}
	if ok, err := o.MarkDelivered(ctx, second[0], now); err != nil || !ok {
		t.Fatalf("mark = %v, %v", ok, err)
	}
	if ok, err := o.Renew(ctx, second[0], now.Add(time.Hour)); err != nil || ok {
		t.Fatalf("renew of a delivered claim = %v, %v; want false", ok, err)
	}
	// The renewed one was the head: the next one of the Task is claimable.
	if next := claimAll(t, o, now.Add(time.Hour)); len(next) != 1 || next[0].Seq != 2 {
		t.Fatalf("after delivery, claimed %v", keys(next))
	}
}

// testOutboxCommitsWithTransaction: an Enqueue in a transaction that fails
// leaves no row; in one that commits, the row is there.
func testOutboxCommitsWithTransaction(t *testing.T, s store.Store) {
	ctx := testContext(t)
	o := outbox(t, s)
	boom := errors.New("boom")
	err := s.Transaction(ctx, func(tx store.Tx) error {
		if _, err := tx.Create(ctx, parse(t, `{"resourceType":"Task","id":"t1","status":"requested","intent":"order"}`)); err != nil {
			return err
		}
		if err := tx.Enqueue(ctx, delivery("t1", `{}`)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("transaction = %v", err)
	}
	if list, err := o.Deliveries(ctx, "t1"); err != nil || len(list) != 0 {
		t.Fatalf("after rollback: %+v, %v", list, err)
	}
	err = s.Transaction(ctx, func(tx store.Tx) error {
		if _, err := tx.Create(ctx, parse(t, `{"resourceType":"Task","id":"t1","status":"requested","intent":"order"}`)); err != nil {
			return err
		}
		return tx.Enqueue(ctx, delivery("t1", `{}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := o.Deliveries(ctx, "t1"); err != nil || len(list) != 1 || list[0].Seq != 1 {
		t.Fatalf("after commit: %+v, %v", list, err)
	}
}

// testOutboxRaceClaimers: claimers racing over many Tasks' queues each get
// every delivery exactly once, in order per Task.
func testOutboxRaceClaimers(t *testing.T, s store.Store) {
	ctx := testContext(t)
	o := outbox(t, s)
	const tasks, per = 10, 5
	var wg sync.WaitGroup
	for i := range tasks {
		wg.Go(func() {
			for j := range per {
				if err := s.Enqueue(ctx, delivery(fmt.Sprintf("t%d", i), fmt.Sprintf(`{"n":%d}`, j+1))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var mu sync.Mutex
	seen := map[string]int{}
	last := map[string]int64{}
	for range Racers / 2 {
		wg.Go(func() {
			for {
				mu.Lock()
				done := len(seen) == tasks*per
				mu.Unlock()
				if done {
					return
				}
				ds, err := o.Claim(ctx, time.Now().Add(time.Second), 3, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				for _, d := range ds {
					mu.Lock()
					k := fmt.Sprintf("%s/%d", d.TaskID, d.Seq)
					seen[k]++
					if d.Seq != last[d.TaskID]+1 {
						t.Errorf("%s claimed after seq %d", k, last[d.TaskID])
					}
					last[d.TaskID] = d.Seq
					mu.Unlock()
					if ok, err := o.MarkDelivered(ctx, d, time.Now()); err != nil || !ok {
						t.Errorf("mark %s = %v, %v", k, ok, err)
					}
				}
				if ctx.Err() != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s claimed %d times", k, n)
		}
	}
}
