package sqlite

import (
	"context"
	"database/sql"
	"net/url"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlsearch"
)

// TestOpenMovesEarlierAuditEvents writes an AuditEvent the way the store
// did before the audit tables (a resources row, a history row and index
// rows), reopens the file, and finds it moved: read, searched and in
// history as before, with its body unchanged, and nothing of it left in
// the general tables.
func TestOpenMovesEarlierAuditEvents(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := fhir.ParseResource([]byte(`{"resourceType":"AuditEvent","id":"old","type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},
 "action":"R","recorded":"2026-11-20T09:00:00Z","agent":[{"requestor":true,"network":{"address":"10.0.0.1","type":"2"}}],"source":{"observer":{"display":"Signpost"}},
 "entity":[{"what":{"reference":"Task/t1"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	now := store.Now()
	body, err := stamp(r, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	old := store.Version{Type: "AuditEvent", ID: "old", VersionID: 1, LastUpdated: now, Method: store.MethodCreate, Body: body}
	rows := sqlsearch.RowsOf(r)
	err = inTx(ctx, s.w, nil, func(tx *sql.Tx) error {
		ok, err := insertFirst(ctx, tx, old, &rows)
		if err == nil && !ok {
			t.Fatal("not written")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, err := s.Read(ctx, "AuditEvent", "old")
	if err != nil || string(v.Body) != string(body) || !v.LastUpdated.Equal(now) {
		t.Fatalf("read after the move: %v, %s at %s; want %s at %s", err, v.Body, v.LastUpdated, body, now)
	}
	for _, q := range []string{"entity=Task/t1", "address=10.0.0", "date=2026-11-20T09:00:00Z", "type=rest"} {
		vals, _ := url.ParseQuery(q)
		sq, err := search.ParseQuery("AuditEvent", vals, true)
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.Search(ctx, sq, store.PageRequest{Count: 10})
		if err != nil || len(page.Matches) != 1 {
			t.Errorf("%s after the move: %v, %d matches", q, err, len(page.Matches))
		}
	}
	h, err := s.History(ctx, store.HistoryQuery{Type: "AuditEvent", ID: "old", Count: 10})
	if err != nil || h.Total != 1 {
		t.Errorf("history after the move: %v, %+v", err, h)
	}
	for _, tbl := range []string{"resources", "resource_history"} {
		var n int
		if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM "+tbl+" WHERE type = 'AuditEvent'").Scan(&n); err != nil || n != 0 {
			t.Errorf("%s still holds %d AuditEvent rows (%v)", tbl, n, err)
		}
	}
	for _, tbl := range indexTables {
		var n int
		if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM "+tbl+" WHERE res_type = 'AuditEvent'").Scan(&n); err != nil || n != 0 {
			t.Errorf("%s still holds %d AuditEvent rows (%v)", tbl, n, err)
		}
	}
}
