package storetest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Racers is how many goroutines the concurrency tests run against one
// resource at once.
const Racers = 16

// Run runs the contract suite against the store open returns. open must
// return a fresh, empty store no other test shares, opened with BaseURL as
// its base, and close it through t.Cleanup; it is called once per subtest,
// and subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s store.Store)
	}{
		{"CreateReadVRead", testCreateReadVRead},
		{"CreateDuplicate", testCreateDuplicate},
		{"Update", testUpdate},
		{"UpdateAsCreate", testUpdateAsCreate},
		{"UpdateUnchanged", testUpdateUnchanged},
		{"Delete", testDelete},
		{"RecreateAfterDelete", testRecreateAfterDelete},
		{"IfMatch", testIfMatch},
		{"RaceIfMatch", testRaceIfMatch},
		{"RaceUpdates", testRaceUpdates},
		{"RaceUpdateAsCreate", testRaceUpdateAsCreate},
		{"History", testHistory},
		{"HistorySecurity", testHistorySecurity},
		{"SearchTenancy", testSearchTenancy},
		{"HistoryPaging", testHistoryPaging},
		{"Lossless", testLossless},
		{"ClientErrors", testClientErrors},
		{"Ping", testPing},
		{"Search", testSearch},
		{"SearchOfficialExamples", testSearchOfficialExamples},
		{"SearchDefaultSort", testSearchDefaultSort},
		{"SearchPagingWhileWriting", testSearchPagingWhileWriting},
		{"SearchIndexFollowsWrites", testSearchIndexFollowsWrites},
		{"SearchManyIndexRows", testSearchManyIndexRows},
		{"Transaction", testTransaction},
		{"ConditionalCreateRace", testConditionalCreateRace},
		{"TransactionUpdateAsCreateRace", testTransactionUpdateAsCreateRace},
		{"OutboxOrderPerTask", testOutboxOrderPerTask},
		{"OutboxBackoffAndDeadLetter", testOutboxBackoffAndDeadLetter},
		{"OutboxLease", testOutboxLease},
		{"OutboxRenew", testOutboxRenew},
		{"OutboxCommitsWithTransaction", testOutboxCommitsWithTransaction},
		{"OutboxRaceClaimers", testOutboxRaceClaimers},
		{"Summaries", testSummaries},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

// testContext bounds every test, so a deadlock fails instead of hanging.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func parse(t testing.TB, js string) *fhir.Resource {
	t.Helper()
	r, err := fhir.ParseResource([]byte(js))
	if err != nil {
		t.Fatalf("fixture does not parse: %v", err)
	}
	return r
}

func patient(t testing.TB, id, family string) *fhir.Resource {
	return parse(t, fmt.Sprintf(`{"resourceType":"Patient","id":%q,"meta":{"profile":["https://signpost.example/fhir/StructureDefinition/patient"]},"name":[{"family":%q}]}`, id, family))
}

func task(t testing.TB, id, status string) *fhir.Resource {
	return parse(t, fmt.Sprintf(`{"resourceType":"Task","id":%q,"status":%q,"intent":"order"}`, id, status))
}

func none() store.Precondition { return store.Precondition{} }

func ifMatch(v int64) store.Precondition { return store.Precondition{IfMatch: v} }

// outcome holds a call's two results so a test can insist on success in
// one expression: try(s.Read(ctx, typ, id)).must(t).
type outcome[T any] struct {
	v   T
	err error
}

func try[T any](v T, err error) outcome[T] { return outcome[T]{v, err} }

func (o outcome[T]) must(t *testing.T) T {
	t.Helper()
	if o.err != nil {
		t.Fatalf("unexpected error: %v", o.err)
	}
	return o.v
}

// wantError checks err is a *fhir.Error with code, and with status when
// status is not 0.
func wantError(t *testing.T, err error, code fhir.IssueCode, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want a fhir %s error", code)
	}
	fe, ok := fhir.AsError(err)
	if !ok {
		t.Fatalf("error %q (%T) is not a *fhir.Error; want code %s", err, err, code)
	}
	if fe.Code() != code {
		t.Fatalf("error %q has code %s, want %s", err, fe.Code(), code)
	}
	if status != 0 && fe.Status != status {
		t.Fatalf("error %q has status %d, want %d", err, fe.Status, status)
	}
}

// checkVersion checks a version's metadata and that its body carries the
// stamped id, meta.versionId and meta.lastUpdated.
func checkVersion(t *testing.T, v store.Version, typ, id string, version int64, method store.Method, deleted bool) {
	t.Helper()
	if v.Type != typ || v.ID != id || v.VersionID != version || v.Method != method || v.Deleted != deleted {
		t.Fatalf("version is %s/%s v%d %s deleted=%v; want %s/%s v%d %s deleted=%v",
			v.Type, v.ID, v.VersionID, v.Method, v.Deleted, typ, id, version, method, deleted)
	}
	if v.LastUpdated.IsZero() || v.LastUpdated.Location() != time.UTC || !v.LastUpdated.Equal(v.LastUpdated.Truncate(time.Microsecond)) {
		t.Fatalf("LastUpdated %v: want a UTC time at microsecond precision", v.LastUpdated)
	}
	if deleted {
		if v.Body != nil {
			t.Fatalf("a deleted version has a body: %s", v.Body)
		}
		return
	}
	r, err := fhir.ParseResource(v.Body)
	if err != nil {
		t.Fatalf("stored body does not parse: %v", err)
	}
	meta, _ := r.Object()["meta"].(map[string]any)
	if r.Type() != typ || r.ID() != id || r.VersionID() != strconv.FormatInt(version, 10) ||
		meta["lastUpdated"] != v.LastUpdated.Format(fhir.InstantFormat) {
		t.Fatalf("body is stamped %s/%s versionId %q lastUpdated %v; want %s/%s %d %s",
			r.Type(), r.ID(), r.VersionID(), meta["lastUpdated"], typ, id, version, v.LastUpdated.Format(fhir.InstantFormat))
	}
}

func sameVersion(t *testing.T, got, want store.Version) {
	t.Helper()
	if got.Type != want.Type || got.ID != want.ID || got.VersionID != want.VersionID || got.Method != want.Method ||
		got.Deleted != want.Deleted || !got.LastUpdated.Equal(want.LastUpdated) || !bytes.Equal(got.Body, want.Body) {
		t.Fatalf("got version\n  %s\nwant\n  %s", describe(got), describe(want))
	}
}

func describe(v store.Version) string {
	return fmt.Sprintf("%s/%s v%d %s deleted=%v at %s body=%s", v.Type, v.ID, v.VersionID, v.Method, v.Deleted,
		v.LastUpdated.Format(fhir.InstantFormat), v.Body)
}

// latest is a resource's newest version, deleted or not, or false when it
// has none.
func latest(t *testing.T, s store.Store, typ, id string) (store.Version, bool) {
	t.Helper()
	page, err := s.History(testContext(t), store.HistoryQuery{Type: typ, ID: id, Count: 1})
	if errors.Is(err, fhir.ErrNotFound) {
		return store.Version{}, false
	}
	if err != nil {
		t.Fatalf("history of %s/%s: %v", typ, id, err)
	}
	if len(page.Versions) != 1 {
		t.Fatalf("history of %s/%s has %d versions on its first page of 1", typ, id, len(page.Versions))
	}
	return page.Versions[0], true
}

func testCreateReadVRead(t *testing.T, s store.Store) {
	ctx := testContext(t)
	before := time.Now().Add(-time.Millisecond)
	r := patient(t, "p1", "Smith")
	res := try(s.Create(ctx, r)).must(t)
	after := time.Now().Add(time.Millisecond)
	if !res.Created {
		t.Error("Create did not report Created")
	}
	v := res.Version
	checkVersion(t, v, "Patient", "p1", 1, store.MethodCreate, false)
	if v.LastUpdated.Before(before) || v.LastUpdated.After(after) {
		t.Errorf("LastUpdated %v is not the time of the write (%v to %v)", v.LastUpdated, before, after)
	}
	// r is stamped in place and the stored bytes are its encoding.
	if r.VersionID() != "1" {
		t.Errorf("Create left r at versionId %q, want it stamped 1", r.VersionID())
	}
	if enc, _ := r.MarshalJSON(); !bytes.Equal(enc, v.Body) {
		t.Errorf("stored body is not r.MarshalJSON():\n%s\n%s", v.Body, enc)
	}
	if !strings.Contains(string(v.Body), `"profile":["https://signpost.example/fhir/StructureDefinition/patient"]`) {
		t.Errorf("the client's meta.profile was not kept: %s", v.Body)
	}
	sameVersion(t, try(s.Read(ctx, "Patient", "p1")).must(t), v)
	sameVersion(t, try(s.VRead(ctx, "Patient", "p1", 1)).must(t), v)
	// The same id under another type is another resource.
	_, err := s.Read(ctx, "Task", "p1")
	wantError(t, err, fhir.CodeNotFound, 0)
}

func testCreateDuplicate(t *testing.T, s store.Store) {
	ctx := testContext(t)
	first := try(s.Create(ctx, patient(t, "dup", "First"))).must(t)
	_, err := s.Create(ctx, patient(t, "dup", "Second"))
	wantError(t, err, fhir.CodeDuplicate, 0)
	sameVersion(t, try(s.Read(ctx, "Patient", "dup")).must(t), first.Version)
	page := try(s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "dup", Count: 10})).must(t)
	if page.Total != 1 {
		t.Errorf("a refused duplicate left %d versions, want 1", page.Total)
	}
}

func testUpdate(t *testing.T, s store.Store) {
	ctx := testContext(t)
	v1 := try(s.Create(ctx, patient(t, "p", "Before"))).must(t).Version
	r := patient(t, "p", "After")
	res := try(s.Update(ctx, r, none())).must(t)
	if res.Created {
		t.Error("an update of an existing resource reported Created")
	}
	v2 := res.Version
	checkVersion(t, v2, "Patient", "p", 2, store.MethodUpdate, false)
	if !v2.LastUpdated.After(v1.LastUpdated) {
		t.Errorf("version 2 at %v is not after version 1 at %v", v2.LastUpdated, v1.LastUpdated)
	}
	if r.VersionID() != "2" {
		t.Errorf("Update left r at versionId %q, want 2", r.VersionID())
	}
	if !strings.Contains(string(v2.Body), `"After"`) {
		t.Errorf("version 2 body lacks the update: %s", v2.Body)
	}
	sameVersion(t, try(s.Read(ctx, "Patient", "p")).must(t), v2)
	sameVersion(t, try(s.VRead(ctx, "Patient", "p", 2)).must(t), v2)
	sameVersion(t, try(s.VRead(ctx, "Patient", "p", 1)).must(t), v1)
}

// testUpdateUnchanged: re-sending the current content (whatever its member
// order or the meta the client claims) writes no version; any change does.
func testUpdateUnchanged(t *testing.T, s store.Store) {
	ctx := testContext(t)
	v1 := try(s.Create(ctx, parse(t, `{"resourceType":"Patient","id":"u","active":true,"name":[{"family":"Same"}]}`))).must(t).Version
	again := parse(t, `{"name":[{"family":"Same"}],"meta":{"versionId":"7","lastUpdated":"2020-01-01T00:00:00Z"},"active":true,"id":"u","resourceType":"Patient"}`)
	res := try(s.Update(ctx, again, none())).must(t)
	if !res.Unchanged || res.Created {
		t.Fatalf("re-sending the same content: Unchanged=%v Created=%v, want Unchanged only", res.Unchanged, res.Created)
	}
	sameVersion(t, res.Version, v1)
	res = try(s.Update(ctx, parse(t, `{"resourceType":"Patient","id":"u","active":true,"name":[{"family":"Same"}]}`), ifMatch(1))).must(t)
	if !res.Unchanged {
		t.Error("an unchanged update with a matching If-Match wrote a version")
	}
	h := try(s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "u", Count: 10})).must(t)
	if h.Total != 1 {
		t.Errorf("history has %d versions after unchanged updates, want 1", h.Total)
	}
	res = try(s.Update(ctx, parse(t, `{"resourceType":"Patient","id":"u","active":false,"name":[{"family":"Same"}]}`), none())).must(t)
	if res.Unchanged || res.Version.VersionID != 2 {
		t.Errorf("a changed update: Unchanged=%v version %d, want a new version 2", res.Unchanged, res.Version.VersionID)
	}
	try(s.Delete(ctx, "Patient", "u", none())).must(t)
	res = try(s.Update(ctx, parse(t, `{"resourceType":"Patient","id":"u","active":false,"name":[{"family":"Same"}]}`), none())).must(t)
	if res.Unchanged || res.Version.VersionID != 4 {
		t.Errorf("re-sending a deleted resource's content must bring it back: Unchanged=%v version %d", res.Unchanged, res.Version.VersionID)
	}
}

func testUpdateAsCreate(t *testing.T, s store.Store) {
	ctx := testContext(t)
	res := try(s.Update(ctx, patient(t, "new", "Made"), none())).must(t)
	if !res.Created {
		t.Error("update as create did not report Created")
	}
	checkVersion(t, res.Version, "Patient", "new", 1, store.MethodUpdate, false)
	sameVersion(t, try(s.Read(ctx, "Patient", "new")).must(t), res.Version)
}

func testDelete(t *testing.T, s store.Store) {
	ctx := testContext(t)
	v1 := try(s.Create(ctx, patient(t, "d", "Doomed"))).must(t).Version
	res := try(s.Delete(ctx, "Patient", "d", none())).must(t)
	if res.Created {
		t.Error("a delete reported Created")
	}
	del := res.Version
	checkVersion(t, del, "Patient", "d", 2, store.MethodDelete, true)
	if !del.LastUpdated.After(v1.LastUpdated) {
		t.Errorf("the deletion at %v is not after version 1 at %v", del.LastUpdated, v1.LastUpdated)
	}

	_, err := s.Read(ctx, "Patient", "d")
	if !errors.Is(err, fhir.ErrDeleted) {
		t.Fatalf("read after delete: %v, want fhir.ErrDeleted", err)
	}
	wantError(t, err, fhir.CodeDeleted, 0)
	_, err = s.VRead(ctx, "Patient", "d", 2)
	wantError(t, err, fhir.CodeDeleted, 0)
	sameVersion(t, try(s.VRead(ctx, "Patient", "d", 1)).must(t), v1)

	// Deleting again, or deleting what never existed, changes nothing.
	for _, id := range []string{"d", "never"} {
		again := try(s.Delete(ctx, "Patient", id, none())).must(t)
		if again.Version.VersionID != 0 || again.Created {
			t.Errorf("delete of Patient/%s again: %+v, want a zero result", id, again)
		}
	}
	page := try(s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "d", Count: 10})).must(t)
	if page.Total != 2 || len(page.Versions) != 2 {
		t.Fatalf("history after delete has %d versions (total %d), want 2", len(page.Versions), page.Total)
	}
	sameVersion(t, page.Versions[0], del)
	sameVersion(t, page.Versions[1], v1)
	if _, err := s.Read(ctx, "Patient", "never"); !errors.Is(err, fhir.ErrNotFound) {
		t.Errorf("a delete of an unknown id created something: %v", err)
	}
}

func testRecreateAfterDelete(t *testing.T, s store.Store) {
	ctx := testContext(t)
	try(s.Create(ctx, patient(t, "r", "One"))).must(t)
	del := try(s.Delete(ctx, "Patient", "r", none())).must(t).Version
	res := try(s.Update(ctx, patient(t, "r", "Two"), none())).must(t)
	if res.Created {
		t.Error("bringing a deleted resource back reported Created; only version 1 is a creation")
	}
	checkVersion(t, res.Version, "Patient", "r", 3, store.MethodUpdate, false)
	if !res.Version.LastUpdated.After(del.LastUpdated) {
		t.Errorf("version 3 at %v is not after the deletion at %v", res.Version.LastUpdated, del.LastUpdated)
	}
	sameVersion(t, try(s.Read(ctx, "Patient", "r")).must(t), res.Version)

	// An id is never reused by a create, deleted or not.
	_, err := s.Create(ctx, patient(t, "r", "Three"))
	wantError(t, err, fhir.CodeDuplicate, 0)
	try(s.Delete(ctx, "Patient", "r", none())).must(t)
	_, err = s.Create(ctx, patient(t, "r", "Four"))
	wantError(t, err, fhir.CodeDuplicate, 0)
	page := try(s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "r", Count: 10})).must(t)
	if page.Total != 4 {
		t.Errorf("history has %d versions, want 4", page.Total)
	}
}

func testIfMatch(t *testing.T, s store.Store) {
	// Each case starts from its own resource at version 2 (live) or 3 (a
	// deletion), and says what the newest version must be afterwards.
	cases := []struct {
		name        string
		deleted     bool
		op          func(t *testing.T, ctx context.Context, id string) (store.WriteResult, error)
		wantErr     bool // a 412 conflict
		wantVersion int64
		wantDeleted bool
	}{
		{"update matching", false, func(t *testing.T, ctx context.Context, id string) (store.WriteResult, error) {
			return s.Update(ctx, patient(t, id, "New"), ifMatch(2))
		}, false, 3, false},
		{"update stale", false, func(t *testing.T, ctx context.Context, id string) (store.WriteResult, error) {
			return s.Update(ctx, patient(t, id, "New"), ifMatch(1))
		}, true, 2, false},
		{"update ahead", false, func(t *testing.T, ctx context.Context, id string) (store.WriteResult, error) {
			return s.Update(ctx, patient(t, id, "New"), ifMatch(3))
		}, true, 2, false},
		{"update deleted matching", true, func(t *testing.T, ctx context.Context, id string) (store.WriteResult, error) {
			return s.Update(ctx, patient(t, id, "Back"), ifMatch(3))
		}, false, 4, false},
		{"update deleted stale", true, func(t *testing.T, ctx context.Context, id string) (store.WriteResult, error) {
			return s.Update(ctx, patient(t, id, "Back"), ifMatch(2))
		}, true, 3, true},
		{"delete matching", false, func(t *testing.T, ctx context.Context, id string) (store.WriteResult, error) {
			return s.Delete(ctx, "Patient", id, ifMatch(2))
		}, false, 3, true},
		{"delete stale", false, func(t *testing.T, ctx context.Context, id string) (store.WriteResult, error) {
			return s.Delete(ctx, "Patient", id, ifMatch(1))
		}, true, 2, false},
		{"delete deleted matching", true, func(t *testing.T, ctx context.Context, id string) (store.WriteResult, error) {
			return s.Delete(ctx, "Patient", id, ifMatch(3))
		}, false, 3, true},
		{"delete deleted stale", true, func(t *testing.T, ctx context.Context, id string) (store.WriteResult, error) {
			return s.Delete(ctx, "Patient", id, ifMatch(2))
		}, true, 3, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			id := fmt.Sprintf("m%d", i)
			try(s.Create(ctx, patient(t, id, "Old"))).must(t)
			try(s.Update(ctx, patient(t, id, "Current"), none())).must(t)
			if tc.deleted {
				try(s.Delete(ctx, "Patient", id, none())).must(t)
			}
			before, _ := latest(t, s, "Patient", id)
			_, err := tc.op(t, ctx, id)
			after, _ := latest(t, s, "Patient", id)
			if tc.wantErr {
				wantError(t, err, fhir.CodeConflict, 412)
				if !errors.Is(err, fhir.ErrConflict) {
					t.Errorf("errors.Is(%v, fhir.ErrConflict) is false", err)
				}
				sameVersion(t, after, before)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if after.VersionID != tc.wantVersion || after.Deleted != tc.wantDeleted {
				t.Fatalf("newest version is %d deleted=%v, want %d deleted=%v", after.VersionID, after.Deleted, tc.wantVersion, tc.wantDeleted)
			}
		})
	}
	// An If-Match can never match a resource that does not exist: no update
	// as create, no silent delete.
	t.Run("unknown", func(t *testing.T) {
		ctx := testContext(t)
		_, err := s.Update(ctx, patient(t, "ghost", "Nobody"), ifMatch(1))
		wantError(t, err, fhir.CodeConflict, 412)
		_, err = s.Delete(ctx, "Patient", "ghost", ifMatch(1))
		wantError(t, err, fhir.CodeConflict, 412)
		if _, ok := latest(t, s, "Patient", "ghost"); ok {
			t.Fatal("a refused If-Match created the resource")
		}
	})
}

// race runs fn on n goroutines released together and returns their errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func testRaceIfMatch(t *testing.T, s store.Store) {
	ctx := testContext(t)
	try(s.Create(ctx, patient(t, "contested", "Start"))).must(t)
	racers := make([]*fhir.Resource, Racers)
	for i := range racers {
		racers[i] = patient(t, "contested", fmt.Sprintf("Racer%d", i))
	}
	results := make([]store.WriteResult, Racers)
	errs := race(Racers, func(i int) error {
		var err error
		results[i], err = s.Update(ctx, racers[i], ifMatch(1))
		return err
	})
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("racers %d and %d both won an If-Match on version 1", winner, i)
			}
			winner = i
			continue
		}
		wantError(t, err, fhir.CodeConflict, 412)
	}
	if winner < 0 {
		t.Fatal("no racer won")
	}
	cur := try(s.Read(ctx, "Patient", "contested")).must(t)
	sameVersion(t, cur, results[winner].Version)
	if !strings.Contains(string(cur.Body), fmt.Sprintf(`"Racer%d"`, winner)) {
		t.Errorf("the current body is not the winner's: %s", cur.Body)
	}
	if page := try(s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "contested"})).must(t); page.Total != 2 {
		t.Errorf("history has %d versions, want 2", page.Total)
	}
}

func testRaceUpdates(t *testing.T, s store.Store) {
	const rounds = 3
	ctx := testContext(t)
	try(s.Create(ctx, patient(t, "busy", "Start"))).must(t)
	writes := make([][rounds]*fhir.Resource, Racers)
	for i := range writes {
		for round := range rounds {
			writes[i][round] = patient(t, "busy", fmt.Sprintf("Writer%dRound%d", i, round))
		}
	}
	var mu sync.Mutex
	family := map[int64]string{} // version -> the writer's name in it
	errs := race(Racers, func(i int) error {
		for round := range rounds {
			name := fmt.Sprintf("Writer%dRound%d", i, round)
			res, err := s.Update(ctx, writes[i][round], none())
			if err != nil {
				return err
			}
			mu.Lock()
			if other, dup := family[res.Version.VersionID]; dup {
				mu.Unlock()
				return fmt.Errorf("version %d given to both %s and %s", res.Version.VersionID, other, name)
			}
			family[res.Version.VersionID] = name
			mu.Unlock()
		}
		return nil
	})
	for _, err := range errs {
		if err != nil {
			t.Fatalf("an update without If-Match failed: %v", err)
		}
	}
	const last = 1 + Racers*rounds
	for v := int64(2); v <= last; v++ {
		if _, ok := family[v]; !ok {
			t.Fatalf("no writer got version %d: versions are not contiguous", v)
		}
	}
	page := try(s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "busy", Count: 1000})).must(t)
	if page.Total != last || len(page.Versions) != last {
		t.Fatalf("history has %d versions (total %d), want %d", len(page.Versions), page.Total, last)
	}
	for i, v := range page.Versions {
		if want := int64(last - i); v.VersionID != want {
			t.Fatalf("history entry %d is version %d, want %d", i, v.VersionID, want)
		}
		if i > 0 && !v.LastUpdated.Before(page.Versions[i-1].LastUpdated) {
			t.Fatalf("version %d at %v is not before version %d at %v", v.VersionID, v.LastUpdated, page.Versions[i-1].VersionID, page.Versions[i-1].LastUpdated)
		}
		if name, ok := family[v.VersionID]; ok && !strings.Contains(string(v.Body), `"`+name+`"`) {
			t.Fatalf("version %d does not hold %s's update: %s", v.VersionID, name, v.Body)
		}
	}
}

func testRaceUpdateAsCreate(t *testing.T, s store.Store) {
	ctx := testContext(t)
	racers := make([]*fhir.Resource, Racers)
	for i := range racers {
		racers[i] = patient(t, "fresh", fmt.Sprintf("Racer%d", i))
	}
	results := make([]store.WriteResult, Racers)
	errs := race(Racers, func(i int) error {
		var err error
		results[i], err = s.Update(ctx, racers[i], none())
		return err
	})
	var versions []int64
	created := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("racer %d: %v", i, err)
		}
		if results[i].Created {
			created++
			if results[i].Version.VersionID != 1 {
				t.Errorf("racer %d reported Created at version %d", i, results[i].Version.VersionID)
			}
		}
		versions = append(versions, results[i].Version.VersionID)
	}
	if created != 1 {
		t.Errorf("%d racers reported Created, want exactly 1", created)
	}
	slices.Sort(versions)
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("versions %v, want 1..%d", versions, Racers)
		}
	}
}

// historyFixture writes six versions of three resources in a known order
// and returns them oldest first.
func historyFixture(t *testing.T, s store.Store) []store.Version {
	ctx := testContext(t)
	var all []store.Version
	add := func(res store.WriteResult, err error) {
		t.Helper()
		all = append(all, try(res, err).must(t).Version)
	}
	add(s.Create(ctx, task(t, "a", "requested")))
	add(s.Create(ctx, task(t, "b", "requested")))
	add(s.Update(ctx, task(t, "a", "accepted"), none()))
	add(s.Create(ctx, patient(t, "p", "Pat")))
	add(s.Delete(ctx, "Task", "b", none()))
	add(s.Update(ctx, task(t, "a", "completed"), none()))
	return all
}

// newestFirst is the order the contract gives (see store.HistoryPage).
func newestFirst(a, b store.Version) int {
	return cmp.Or(b.LastUpdated.Compare(a.LastUpdated), strings.Compare(b.Type, a.Type),
		strings.Compare(b.ID, a.ID), cmp.Compare(b.VersionID, a.VersionID))
}

func pick(all []store.Version, keep func(v store.Version) bool) []store.Version {
	var out []store.Version
	for _, v := range all {
		if keep(v) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, newestFirst)
	return out
}

func samePage(t *testing.T, got store.HistoryPage, want []store.Version, total int) {
	t.Helper()
	if got.Total != total {
		t.Errorf("Total %d, want %d", got.Total, total)
	}
	if len(got.Versions) != len(want) {
		var b strings.Builder
		for _, v := range got.Versions {
			b.WriteString("\n  " + describe(v))
		}
		t.Fatalf("%d versions, want %d:%s", len(got.Versions), len(want), b.String())
	}
	for i := range want {
		sameVersion(t, got.Versions[i], want[i])
	}
}

func testHistory(t *testing.T, s store.Store) {
	all := historyFixture(t, s)
	mid := all[2].LastUpdated
	isTask := func(v store.Version) bool { return v.Type == "Task" }
	isA := func(v store.Version) bool { return v.Type == "Task" && v.ID == "a" }
	cases := []struct {
		name string
		q    store.HistoryQuery
		keep func(v store.Version) bool
	}{
		{"system", store.HistoryQuery{Count: 100}, func(store.Version) bool { return true }},
		{"type", store.HistoryQuery{Type: "Task", Count: 100}, isTask},
		{"type with nothing", store.HistoryQuery{Type: "Observation", Count: 100}, func(store.Version) bool { return false }},
		{"instance", store.HistoryQuery{Type: "Task", ID: "a", Count: 100}, isA},
		{"instance deleted", store.HistoryQuery{Type: "Task", ID: "b", Count: 100}, func(v store.Version) bool { return v.ID == "b" }},
		{"since is exclusive", store.HistoryQuery{Since: mid, Count: 100}, func(v store.Version) bool { return v.LastUpdated.After(mid) }},
		{"at is inclusive", store.HistoryQuery{At: mid, Count: 100}, func(v store.Version) bool { return !v.LastUpdated.After(mid) }},
		{"since and at", store.HistoryQuery{Since: all[1].LastUpdated, At: all[4].LastUpdated, Count: 100}, func(v store.Version) bool {
			return v.LastUpdated.After(all[1].LastUpdated) && !v.LastUpdated.After(all[4].LastUpdated)
		}},
		{"type since", store.HistoryQuery{Type: "Task", Since: mid, Count: 100}, func(v store.Version) bool { return isTask(v) && v.LastUpdated.After(mid) }},
		{"instance at", store.HistoryQuery{Type: "Task", ID: "a", At: mid, Count: 100}, func(v store.Version) bool { return isA(v) && !v.LastUpdated.After(mid) }},
		{"instance since the last", store.HistoryQuery{Type: "Task", ID: "a", Since: all[5].LastUpdated, Count: 100}, func(store.Version) bool { return false }},
		{"nanoseconds in the bounds", store.HistoryQuery{Since: all[0].LastUpdated.Add(500 * time.Nanosecond), At: all[5].LastUpdated.Add(999 * time.Nanosecond), Count: 100},
			func(v store.Version) bool { return v.LastUpdated.After(all[0].LastUpdated) }},
		{"count zero gives only the total", store.HistoryQuery{Type: "Task"}, isTask},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := pick(all, tc.keep)
			page := try(s.History(testContext(t), tc.q)).must(t)
			if tc.q.Count == 0 {
				samePage(t, page, nil, len(want))
				return
			}
			samePage(t, page, want, len(want))
		})
	}
}

func testHistoryPaging(t *testing.T, s store.Store) {
	all := pick(historyFixture(t, s), func(store.Version) bool { return true })
	ctx := testContext(t)
	for _, count := range []int{1, 2, 4, 6, 7} {
		var got []store.Version
		for offset := 0; offset < len(all); offset += count {
			page := try(s.History(ctx, store.HistoryQuery{Count: count, Offset: offset})).must(t)
			if page.Total != len(all) {
				t.Fatalf("count %d offset %d: Total %d, want %d", count, offset, page.Total, len(all))
			}
			if want := min(count, len(all)-offset); len(page.Versions) != want {
				t.Fatalf("count %d offset %d: %d versions, want %d", count, offset, len(page.Versions), want)
			}
			got = append(got, page.Versions...)
		}
		samePage(t, store.HistoryPage{Versions: got, Total: len(all)}, all, len(all))
	}
	page := try(s.History(ctx, store.HistoryQuery{Count: 10, Offset: 100})).must(t)
	samePage(t, page, nil, len(all))
}

// losslessTask holds what a lossy codec or database would change: decimal
// text, an exponent, negative zero, a number too long for a float64, a
// primitive extension (_status), an element no struct knows, value[x]
// choices nested in backbone elements, and escapes.
const losslessTask = `{
  "resourceType": "Task",
  "id": "lossless",
  "meta": {"profile": ["https://signpost.example/fhir/StructureDefinition/navigation-task"], "tag": [{"code": "kept"}]},
  "status": "requested",
  "_status": {"extension": [{"url": "https://signpost.example/fhir/StructureDefinition/status-note", "valueString": "phoned in"}]},
  "intent": "order",
  "code": {"coding": [{"system": "https://signpost.example/fhir/CodeSystem/navigation-task", "code": "navigate"}]},
  "signpostNotInR4": {"nested": [1, 2.50, {"deep": true}, null]},
  "input": [
    {"type": {"text": "temperature"}, "valueQuantity": {"value": 1.50, "unit": "Cel"}},
    {"type": {"text": "score"}, "valueDecimal": 1.0e2},
    {"type": {"text": "offset"}, "valueDecimal": -0.0},
    {"type": {"text": "long"}, "valueDecimal": 12345678901234567890.000000000000000001},
    {"type": {"text": "flag"}, "valueBoolean": false},
    {"type": {"text": "reason"}, "valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct", "code": "21522001", "display": "Abdominal pain"}]}},
    {"type": {"text": "window"}, "valuePeriod": {"start": "2025-03-01T09:00:00+00:00", "end": "2025-03-01T17:30:00.000+00:00"}},
    {"type": {"text": "text"}, "valueString": "caf\u00e9 \u2713 \u2028 \"quoted\" <b>&amp;</b> tab\there"}
  ]
}`

func testLossless(t *testing.T, s store.Store) {
	ctx := testContext(t)
	orig, err := fhir.DecodeJSON([]byte(losslessTask))
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, where string, body []byte) {
		t.Helper()
		for _, lit := range []string{`1.50`, `2.50`, `1.0e2`, `-0.0`, `12345678901234567890.000000000000000001`, `"_status"`} {
			if !bytes.Contains(body, []byte(lit)) {
				t.Errorf("%s: %s was not kept byte for byte: %s", where, lit, body)
			}
		}
		got, err := fhir.DecodeJSON(body)
		if err != nil {
			t.Fatalf("%s: body does not parse: %v", where, err)
		}
		want := orig.(map[string]any)
		meta, _ := got.(map[string]any)["meta"].(map[string]any)
		if !fhir.Equal(meta["profile"], want["meta"].(map[string]any)["profile"]) || !fhir.Equal(meta["tag"], want["meta"].(map[string]any)["tag"]) {
			t.Errorf("%s: the client's meta elements were not kept: %v", where, meta)
		}
		g, w := withoutMeta(got), withoutMeta(want)
		if !fhir.Equal(g, w) {
			t.Errorf("%s: the resource changed on the way through the store:\n got %s\nwant %s", where, mustEncode(g), mustEncode(w))
		}
	}
	created := try(s.Create(ctx, parse(t, losslessTask))).must(t).Version
	check(t, "create", created.Body)
	check(t, "read", try(s.Read(ctx, "Task", "lossless")).must(t).Body)
	updated := try(s.Update(ctx, parse(t, losslessTask), none())).must(t).Version
	check(t, "update", updated.Body)
	check(t, "vread", try(s.VRead(ctx, "Task", "lossless", 1)).must(t).Body)
	for _, v := range try(s.History(ctx, store.HistoryQuery{Type: "Task", ID: "lossless", Count: 10})).must(t).Versions {
		check(t, fmt.Sprintf("history v%d", v.VersionID), v.Body)
	}
}

func withoutMeta(v any) map[string]any {
	out := map[string]any{}
	for k, e := range v.(map[string]any) {
		if k != "meta" {
			out[k] = e
		}
	}
	return out
}

func mustEncode(v any) string {
	b, err := fhir.EncodeJSON(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// testClientErrors checks every failure a client can cause is a
// *fhir.Error with the code the gateway maps to a status.
func testClientErrors(t *testing.T, s store.Store) {
	ctx := testContext(t)
	try(s.Create(ctx, patient(t, "live", "Here"))).must(t)
	try(s.Create(ctx, patient(t, "gone", "Away"))).must(t)
	try(s.Delete(ctx, "Patient", "gone", none())).must(t)
	noID := parse(t, `{"resourceType":"Patient"}`)
	cases := []struct {
		name   string
		op     func() error
		code   fhir.IssueCode
		status int
		is     error
	}{
		{"read unknown", func() error { _, err := s.Read(ctx, "Patient", "nobody"); return err }, fhir.CodeNotFound, 0, fhir.ErrNotFound},
		{"read deleted", func() error { _, err := s.Read(ctx, "Patient", "gone"); return err }, fhir.CodeDeleted, 0, fhir.ErrDeleted},
		{"vread unknown resource", func() error { _, err := s.VRead(ctx, "Patient", "nobody", 1); return err }, fhir.CodeNotFound, 0, fhir.ErrNotFound},
		{"vread unknown version", func() error { _, err := s.VRead(ctx, "Patient", "live", 2); return err }, fhir.CodeNotFound, 0, fhir.ErrNotFound},
		{"vread version 0", func() error { _, err := s.VRead(ctx, "Patient", "live", 0); return err }, fhir.CodeNotFound, 0, fhir.ErrNotFound},
		{"vread deletion", func() error { _, err := s.VRead(ctx, "Patient", "gone", 2); return err }, fhir.CodeDeleted, 0, fhir.ErrDeleted},
		{"create duplicate", func() error { _, err := s.Create(ctx, patient(t, "live", "Again")); return err }, fhir.CodeDuplicate, 0, nil},
		{"create over deleted", func() error { _, err := s.Create(ctx, patient(t, "gone", "Again")); return err }, fhir.CodeDuplicate, 0, nil},
		{"create without id", func() error { _, err := s.Create(ctx, noID.Clone()); return err }, fhir.CodeRequired, 0, nil},
		{"update without id", func() error { _, err := s.Update(ctx, noID.Clone(), none()); return err }, fhir.CodeRequired, 0, nil},
		{"update stale", func() error { _, err := s.Update(ctx, patient(t, "live", "X"), ifMatch(7)); return err }, fhir.CodeConflict, 412, fhir.ErrConflict},
		{"update negative If-Match", func() error { _, err := s.Update(ctx, patient(t, "live", "X"), ifMatch(-1)); return err }, fhir.CodeInvalid, 400, fhir.ErrInvalid},
		{"delete stale", func() error { _, err := s.Delete(ctx, "Patient", "live", ifMatch(7)); return err }, fhir.CodeConflict, 412, fhir.ErrConflict},
		{"history of unknown instance", func() error {
			_, err := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "nobody", Count: 10})
			return err
		}, fhir.CodeNotFound, 0, fhir.ErrNotFound},
		{"history id without type", func() error { _, err := s.History(ctx, store.HistoryQuery{ID: "live", Count: 10}); return err }, fhir.CodeInvalid, 0, fhir.ErrInvalid},
		{"history negative count", func() error { _, err := s.History(ctx, store.HistoryQuery{Count: -1}); return err }, fhir.CodeInvalid, 0, fhir.ErrInvalid},
		{"history negative offset", func() error { _, err := s.History(ctx, store.HistoryQuery{Count: 1, Offset: -1}); return err }, fhir.CodeInvalid, 0, fhir.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op()
			wantError(t, err, tc.code, tc.status)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) is false", err, tc.is)
			}
		})
	}
	// None of that changed anything.
	if v := try(s.Read(ctx, "Patient", "live")).must(t); v.VersionID != 1 {
		t.Errorf("Patient/live is at version %d after refused writes, want 1", v.VersionID)
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(testContext(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
