package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// TestLockAllHoldsEveryKey: after LockAll, each key is held until the
// transaction ends, exactly as Lock would hold it.
func TestLockAllHoldsEveryKey(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	held := func(key string) bool {
		t.Helper()
		var free bool
		// A try-lock in a transaction of its own: false while another
		// transaction holds the key.
		if err := s.Pool().QueryRow(ctx, "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))", key).Scan(&free); err != nil {
			t.Fatal(err)
		}
		return !free
	}
	keys := []string{"HealthcareService?identifier=a%7C1", "HealthcareService?identifier=a%7C2", "Patient?identifier=b%7C3"}
	err := s.Transaction(ctx, func(tx store.Tx) error {
		ml, ok := tx.(interface {
			LockAll(context.Context, []string) error
		})
		if !ok {
			t.Fatal("the PostgreSQL transaction has no LockAll")
		}
		if err := ml.LockAll(ctx, keys); err != nil {
			return err
		}
		for _, k := range keys {
			if !held(k) {
				t.Errorf("%s is not held after LockAll", k)
			}
		}
		if held("HealthcareService?identifier=a%7C4") {
			t.Error("a key not asked for is held")
		}
		return ml.LockAll(ctx, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if held(k) {
			t.Errorf("%s is still held after the transaction", k)
		}
	}
}

// TestTxCreateAll: creates sent together inside a transaction are
// written, indexed and visible to the transaction's searches like Create's;
// an id in use fails the call with a duplicate error and the transaction
// then stores nothing.
func TestTxCreateAll(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	org := func(id, value string) *fhir.Resource {
		r, err := fhir.ParseResource([]byte(`{"resourceType":"Organization","id":"` + id + `","identifier":[{"system":"urn:x","value":"` + value + `"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	type creator interface {
		CreateAll(context.Context, []*fhir.Resource) ([]store.WriteResult, error)
	}
	q, err := search.ParseQuery("Organization", url.Values{"identifier": {"urn:x|b"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Transaction(ctx, func(tx store.Tx) error {
		out, err := tx.(creator).CreateAll(ctx, []*fhir.Resource{org("a", "a"), org("b", "b")})
		if err != nil {
			return err
		}
		if len(out) != 2 || !out[1].Created || out[1].Version.VersionID != 1 || out[1].Version.ID != "b" {
			t.Errorf("results %+v", out)
		}
		page, err := tx.Search(ctx, q, store.PageRequest{Count: 5})
		if err != nil {
			return err
		}
		if len(page.Matches) != 1 || page.Matches[0].ID != "b" {
			t.Errorf("the transaction's search finds %d", len(page.Matches))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Read(ctx, "Organization", "a"); err != nil || v.VersionID != 1 {
		t.Fatalf("read a: %v %+v", err, v)
	}
	err = s.Transaction(ctx, func(tx store.Tx) error {
		_, err := tx.(creator).CreateAll(ctx, []*fhir.Resource{org("c", "c"), org("a", "again")})
		return err
	})
	if fe, ok := fhir.AsError(err); !ok || fe.Code() != fhir.CodeDuplicate {
		t.Fatalf("creating an id in use: %v, want a duplicate error", err)
	}
	if _, err := s.Read(ctx, "Organization", "c"); !errors.Is(err, fhir.ErrNotFound) {
		t.Fatalf("c was stored although the transaction failed: %v", err)
	}
}

// TestTxUpdateAll: updates sent together behave as Update does one by
// one: equal content writes no version, changed content the next one, an
// unknown id is created, a deleted one comes back.
func TestTxUpdateAll(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	org := func(id, name string) *fhir.Resource {
		r, err := fhir.ParseResource([]byte(`{"resourceType":"Organization","id":"` + id + `","name":"` + name + `"}`))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, id := range []string{"same", "changed", "gone"} {
		if _, err := s.Create(ctx, org(id, id)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, "Organization", "gone", store.Precondition{}); err != nil {
		t.Fatal(err)
	}
	type updater interface {
		UpdateAll(context.Context, []*fhir.Resource) ([]store.WriteResult, error)
	}
	var out []store.WriteResult
	err := s.Transaction(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.(updater).UpdateAll(ctx, []*fhir.Resource{org("same", "same"), org("changed", "new name"), org("fresh", "fresh"), org("gone", "back")})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		version            int64
		unchanged, created bool
	}{{1, true, false}, {2, false, false}, {1, false, true}, {3, false, false}}
	for i, w := range want {
		if out[i].Version.VersionID != w.version || out[i].Unchanged != w.unchanged || out[i].Created != w.created {
			t.Errorf("result %d: %+v, want %+v", i, out[i], w)
		}
	}
	for _, c := range []struct {
		id      string
		version int64
	}{{"same", 1}, {"changed", 2}, {"fresh", 1}, {"gone", 3}} {
		v, err := s.Read(ctx, "Organization", c.id)
		if err != nil || v.VersionID != c.version {
			t.Errorf("%s: %v, version %d, want %d", c.id, err, v.VersionID, c.version)
		}
	}
	page, err := s.History(ctx, store.HistoryQuery{Type: "Organization"})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 7 { // 3 creates, 1 delete, then changed, fresh, gone
		t.Errorf("history holds %d versions, want 7", page.Total)
	}
}

// TestTxTokenMatches: each pair finds what identifier=system|code finds:
// live resources only, once each however many index rows they have.
func TestTxTokenMatches(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	for _, body := range []string{
		`{"resourceType":"Organization","id":"a","identifier":[{"system":"urn:x","value":"1"}]}`,
		`{"resourceType":"Organization","id":"b","identifier":[{"system":"urn:x","value":"2","type":{"coding":[{"system":"urn:t","code":"t1"},{"system":"urn:t","code":"t2"},{"system":"urn:t","code":"t3"}]}}]}`,
		`{"resourceType":"Organization","id":"c","identifier":[{"system":"urn:x","value":"2"}]}`,
		`{"resourceType":"Organization","id":"d","identifier":[{"system":"urn:x","value":"3"}]}`,
	} {
		r, err := fhir.ParseResource([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, "Organization", "d", store.Precondition{}); err != nil {
		t.Fatal(err)
	}
	type matcher interface {
		TokenMatches(ctx context.Context, typ, param string, systems, codes []string) (map[int][]store.Version, error)
	}
	var got map[int][]string
	err := s.Transaction(ctx, func(tx store.Tx) error {
		found, err := tx.(matcher).TokenMatches(ctx, "Organization", "identifier", []string{"urn:x", "urn:x", "urn:x", "urn:y"}, []string{"1", "2", "3", "1"})
		got = map[int][]string{}
		for i, vs := range found {
			for _, v := range vs {
				got[i] = append(got[i], v.ID)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(map[int][]string{0: {"a"}, 1: {"b", "c"}}) {
		t.Fatalf("got %v", got)
	}
}
