package clinicalsystem_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// BenchmarkDeliveryThroughput drains 2000 deliveries (200 Tasks × 10)
// from a PostgreSQL outbox into a loopback receiver with 8 workers and
// reports deliveries per second:
//
//	go test -run '^$' -bench DeliveryThroughput ./gateway/clinicalsystem/
func BenchmarkDeliveryThroughput(b *testing.B) {
	const tasks, per = 200, 10
	for range b.N {
		b.StopTimer()
		st := openPostgres(b, pgtest.URL(b))
		rc := newReceiver()
		addr, _ := serve(b, rc, "127.0.0.1:0")
		practice(b, st, addr)
		for n := range per {
			for i := range tasks {
				enqueue(b, st, fmt.Sprintf("task-%03d", i), n)
			}
		}
		cfg := fast(8)
		cfg.Batch = 16
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		b.StartTimer()
		start := time.Now()
		go func() { clinicalsystem.New(st, st, cfg).Run(ctx); close(done) }()
		for {
			rc.mu.Lock()
			n := len(rc.receipts)
			rc.mu.Unlock()
			if n == tasks*per {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		b.ReportMetric(float64(tasks*per)/elapsed.Seconds(), "deliveries/s")
	}
}
