package gateway_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/internal/directorytest"
)

func BenchmarkScratchMatchHTTP(b *testing.B) {
	st := stores[0].open(b)
	g := newDirectoryGateway(b, st)
	feed := directorytest.Services(dirNames, 5000, 1, time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	for i := 0; i < len(feed); i += 500 {
		r := g.do("POST", "", jsonBody(b, directorytest.Transaction(feed[i:i+500])))
		require.Equal(b, http.StatusOK, r.status)
	}
	path := "/HealthcareService/$match?service-type=722140001&age=42&sex=female&need-group=4&practice=B86001&postcode=LS6%203AA&from=2026-11-25T10:00:00Z&to=2026-12-02T10:00:00Z"
	g.do("GET", path, "")
	b.ResetTimer()
	for b.Loop() {
		g.do("GET", path, "")
	}
}
