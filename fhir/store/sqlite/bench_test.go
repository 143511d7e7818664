package sqlite_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
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

func mustParse(t testing.TB, js string) *fhir.Resource {
	t.Helper()
	r, err := fhir.ParseResource([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func BenchmarkCreate(b *testing.B) { storetest.BenchCreate(b, open(b, b.TempDir()), fixture(b)) }

func BenchmarkCreateParallel(b *testing.B) {
	storetest.BenchCreateParallel(b, open(b, b.TempDir()), fixture(b))
}

func BenchmarkRead(b *testing.B) { storetest.BenchRead(b, open(b, b.TempDir()), fixture(b)) }

func BenchmarkUpdate(b *testing.B) { storetest.BenchUpdate(b, open(b, b.TempDir()), fixture(b)) }

func BenchmarkLaterPage(b *testing.B) {
	size := 2000
	if v, err := strconv.Atoi(os.Getenv("SIGNPOST_BENCH_SIZE")); err == nil {
		size = v
	}
	for _, n := range []int{0, 100} {
		b.Run(fmt.Sprintf("size=%d/changed=%d", size, n), func(b *testing.B) {
			storetest.BenchLaterPage(b, open(b, b.TempDir()), fixture(b), size, n)
		})
	}
}
