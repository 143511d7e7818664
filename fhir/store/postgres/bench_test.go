package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/fhir/store/storetest"
)

func fixture(b *testing.B) []byte {
	b.Helper()
	data, err := os.ReadFile("../../../testdata/task-navigate.json")
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// openBench sizes the pool for storetest.BenchClients, so the parallel
// benchmarks measure the database and not a wait for a connection.
func openBench(b *testing.B) *postgres.Store {
	return open(b, postgres.WithMaxConns(storetest.BenchClients))
}

func BenchmarkCreate(b *testing.B) { storetest.BenchCreate(b, openBench(b), fixture(b)) }

func BenchmarkCreateParallel(b *testing.B) {
	storetest.BenchCreateParallel(b, openBench(b), fixture(b))
}

func BenchmarkRead(b *testing.B) { storetest.BenchRead(b, openBench(b), fixture(b)) }

func BenchmarkUpdate(b *testing.B) { storetest.BenchUpdate(b, openBench(b), fixture(b)) }

// BenchmarkRawInsertParallel is the ceiling BenchmarkCreateParallel is held
// to (at least half its rate): one single-row insert of the same JSON per
// op into a bare table, through the same pool, at the same concurrency.
func BenchmarkRawInsertParallel(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, "CREATE TABLE raw_insert (id text PRIMARY KEY, body json NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	r, err := fhir.ParseResource(fixture(b))
	if err != nil {
		b.Fatal(err)
	}
	body, err := r.MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	storetest.SetClients(b, storetest.BenchClients)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Pool().Exec(ctx, "INSERT INTO raw_insert (id, body) VALUES ($1, $2)", strconv.FormatInt(n.Add(1), 10), body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkLaterPage(b *testing.B) {
	size := 2000
	if v, err := strconv.Atoi(os.Getenv("SIGNPOST_BENCH_SIZE")); err == nil {
		size = v
	}
	for _, n := range []int{0, 100} {
		b.Run(fmt.Sprintf("size=%d/changed=%d", size, n), func(b *testing.B) {
			storetest.BenchLaterPage(b, open(b), fixture(b), size, n)
		})
	}
}
