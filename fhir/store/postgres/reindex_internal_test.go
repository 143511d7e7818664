package postgres

import (
	"context"
	"fmt"
	neturl "net/url"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// TestReindexKeepsAConcurrentWrite updates a resource between the moment
// a rebuild batch has read its body and the moment it writes its rows:
// the update must wait for the batch (which holds the row lock), so its
// rows, not the rows of the body the batch read, are what is left.
// Without the batch's row locks the update commits first and the batch
// then replaces its rows with the old body's.
func TestReindexKeepsAConcurrentWrite(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	writer, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	bp := func(systolic int) *fhir.Resource {
		r, err := fhir.ParseResource(fmt.Appendf(nil, `{"resourceType":"Observation","id":"bp","status":"final",
		  "code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},
		  "component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":%d}}]}`, systolic))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if _, err := writer.Create(ctx, bp(150)); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Pool().Exec(ctx, "DELETE FROM search_index_version"); err != nil {
		t.Fatal(err)
	}

	updated := make(chan error, 1)
	reindexRead = func() {
		reindexRead = nil
		go func() {
			_, err := writer.Update(ctx, bp(90), store.Precondition{})
			updated <- err
		}()
		// Go on once the update waits for a lock, or is done.
		for {
			select {
			case err := <-updated:
				updated <- err
				return
			default:
			}
			var waiting int
			if err := writer.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%' AND query NOT LIKE '%(type, id) >%'`).Scan(&waiting); err != nil {
				t.Error(err)
				return
			}
			if waiting > 0 {
				return
			}
		}
	}
	defer func() { reindexRead = nil }()
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := <-updated; err != nil {
		t.Fatal(err)
	}
	find := func(query string) int {
		v, err := neturl.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		q, err := search.ParseQuery("Observation", v, true)
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.Search(ctx, q, store.PageRequest{Count: 10, Total: true})
		if err != nil {
			t.Fatal(err)
		}
		return page.Total
	}
	for query, want := range map[string]int{
		"component-code-value-quantity=8480-6$90":  1,
		"component-code-value-quantity=8480-6$150": 0,
		"component-value-quantity=150":             0,
		"component-value-quantity=90":              1,
	} {
		if got := find(query); got != want {
			t.Errorf("%s: %d matches, want %d", query, got, want)
		}
	}
}
