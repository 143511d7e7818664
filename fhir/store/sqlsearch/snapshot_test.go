package sqlsearch

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// changedRows is a Querier whose resources have n rows written since any
// instant; it answers every other query with nothing.
type changedRows struct{ n int }

func (c changedRows) Query(_ context.Context, sql string, _ []any, row func(scan func(dest ...any) error) error) error {
	if !strings.HasPrefix(sql, "SELECT id, deleted FROM resources") {
		return nil
	}
	for i := range c.n {
		err := row(func(dest ...any) error {
			*dest[0].(*string) = fmt.Sprintf("r%d", i)
			*dest[1].(*bool) = false
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// A later page of a search whose type had more writes since the first
// page than MaxSnapshotChanges is a 410, not an inexact page.
func TestSnapshotTooOldIsGone(t *testing.T) {
	q, err := search.ParseQuery("Patient", url.Values{}, true)
	if err != nil {
		t.Fatal(err)
	}
	cur := (&cursor{Dir: dirAfter, Keys: []any{int64(1)}, ID: "x", Sig: "-_lastUpdated", At: 1}).encode()
	_, err = Search(context.Background(), changedRows{MaxSnapshotChanges + 1}, Options{Dialect: SQLite}, q, store.PageRequest{Count: 10, Cursor: cur})
	var fe *fhir.Error
	if !errors.As(err, &fe) || fe.Status != 410 {
		t.Fatalf("got %v, want a 410", err)
	}
	// At the bound the page is read (here: empty).
	if _, err := Search(context.Background(), changedRows{MaxSnapshotChanges}, Options{Dialect: SQLite}, q, store.PageRequest{Count: 10, Cursor: cur}); err != nil {
		t.Fatal(err)
	}
}
