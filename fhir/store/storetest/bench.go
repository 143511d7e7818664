package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// BenchClients is how many goroutines the parallel benchmarks run: the
// concurrency the create-throughput bar is set at.
const BenchClients = 16

// benchSeed is how many resources the read and update benchmarks work over.
const benchSeed = 100

// Every benchmark op includes what a gateway request does around the store
// call: a deep copy of the parsed fixture (standing in for parsing the
// request), stamping and encoding.

// benchTemplate parses fixture, the JSON of one resource.
func benchTemplate(b *testing.B, fixture []byte) *fhir.Resource {
	b.Helper()
	r, err := fhir.ParseResource(fixture)
	if err != nil {
		b.Fatalf("fixture: %v", err)
	}
	return r
}

// benchIDs gives ids unique across runs on one store.
type benchIDs struct {
	prefix string
	n      atomic.Int64
}

func newBenchIDs() *benchIDs {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &benchIDs{prefix: hex.EncodeToString(b)}
}

func (g *benchIDs) next() string { return fmt.Sprintf("%s-%d", g.prefix, g.n.Add(1)) }

// seed creates benchSeed copies of the template and returns their ids.
func seed(b *testing.B, s store.Store, tmpl *fhir.Resource) []string {
	b.Helper()
	ids := newBenchIDs()
	out := make([]string, benchSeed)
	for i := range out {
		r := tmpl.Clone()
		r.SetID(ids.next())
		if _, err := s.Create(context.Background(), r); err != nil {
			b.Fatalf("seed: %v", err)
		}
		out[i] = r.ID()
	}
	return out
}

// BenchCreate measures Create, one client.
func BenchCreate(b *testing.B, s store.Store, fixture []byte) {
	tmpl := benchTemplate(b, fixture)
	ids := newBenchIDs()
	ctx := context.Background()
	b.SetBytes(int64(len(fixture)))
	b.ReportAllocs()
	for b.Loop() {
		r := tmpl.Clone()
		r.SetID(ids.next())
		if _, err := s.Create(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchCreateParallel measures Create with BenchClients concurrent clients.
func BenchCreateParallel(b *testing.B, s store.Store, fixture []byte) {
	tmpl := benchTemplate(b, fixture)
	ids := newBenchIDs()
	ctx := context.Background()
	b.SetBytes(int64(len(fixture)))
	b.ReportAllocs()
	SetClients(b, BenchClients)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := tmpl.Clone()
			r.SetID(ids.next())
			if _, err := s.Create(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// SetClients makes b.RunParallel run at least n goroutines.
func SetClients(b *testing.B, n int) {
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((n + procs - 1) / procs)
}

// BenchRead measures Read of existing resources, one client.
func BenchRead(b *testing.B, s store.Store, fixture []byte) {
	ids := seed(b, s, benchTemplate(b, fixture))
	typ := benchTemplate(b, fixture).Type()
	ctx := context.Background()
	b.SetBytes(int64(len(fixture)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Read(ctx, typ, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchUpdate measures Update without a precondition of existing
// resources, one client; every op makes a new version.
func BenchUpdate(b *testing.B, s store.Store, fixture []byte) {
	tmpl := benchTemplate(b, fixture)
	ids := seed(b, s, tmpl)
	ctx := context.Background()
	b.SetBytes(int64(len(fixture)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := tmpl.Clone()
		r.SetID(ids[i%len(ids)])
		if _, err := s.Update(ctx, r, store.Precondition{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchLaterPage measures reading the second page of a search (Task,
// newest first, pages of 20, no total) over size resources after changed
// of them were updated since the first page: 0 is the plain keyset page,
// more makes the page match and order as of the first page.
func BenchLaterPage(b *testing.B, s store.Store, fixture []byte, size, changed int) {
	tmpl := benchTemplate(b, fixture)
	ids := newBenchIDs()
	ctx := context.Background()
	made := make([]string, size)
	for i := range made {
		r := tmpl.Clone()
		r.SetID(ids.next())
		if _, err := s.Create(ctx, r); err != nil {
			b.Fatalf("seed: %v", err)
		}
		made[i] = r.ID()
	}
	q, err := search.ParseQuery(tmpl.Type(), url.Values{}, true)
	if err != nil {
		b.Fatal(err)
	}
	first, err := s.Search(ctx, q, store.PageRequest{Count: 20})
	if err != nil || first.Next == "" {
		b.Fatalf("first page: %v", err)
	}
	// Changed content, so each update makes a version.
	edited := benchTemplate(b, bytes.Replace(fixture, []byte(`"resourceType"`), []byte(`"language":"en","resourceType"`), 1))
	for i := range changed {
		r := edited.Clone()
		r.SetID(made[i])
		if _, err := s.Update(ctx, r, store.Precondition{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		page, err := s.Search(ctx, q, store.PageRequest{Count: 20, Cursor: first.Next})
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Matches) != 20 {
			b.Fatalf("page of %d", len(page.Matches))
		}
	}
}
