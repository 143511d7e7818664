package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/postgres"
	"github.com/signpost-fhir/signpost/internal/pgtest"
)

// TestServerRestart stops the store's server (fast, then immediate) and
// starts it again: while it is down every read, write and ping fails with
// an error Unavailable recognises; once it is back the same store serves
// again, on new connections, with everything committed before the stop.
// Errors about the request itself, a deadline included, are not
// "unavailable".
func TestServerRestart(t *testing.T) {
	cl := pgtest.NewCluster(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, cl.URL, postgres.WithMaxConns(4))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var _ store.Availability = s

	create := func(n int) (store.WriteResult, error) {
		r, err := fhir.ParseResource(fmt.Appendf(nil, `{"resourceType":"Patient","id":"restart-%d","name":[{"family":"Restart"}]}`, n))
		if err != nil {
			t.Fatal(err)
		}
		return s.Create(ctx, r)
	}
	var ids []string
	for i, mode := range []string{"fast", "immediate"} {
		w, err := create(i)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, w.Version.ID)

		_, err = s.Read(ctx, "Patient", "no-such-patient")
		if err == nil || s.Unavailable(err) {
			t.Fatalf("reading an unknown id: %v, Unavailable %v; want an error that is not unavailability", err, s.Unavailable(err))
		}
		expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		_, err = s.Read(expired, "Patient", ids[0])
		cancel()
		if err == nil || s.Unavailable(err) {
			t.Fatalf("reading past the deadline: %v, Unavailable %v; want an error that is not unavailability", err, s.Unavailable(err))
		}

		cl.Stop(t, mode)
		if _, err := s.Read(ctx, "Patient", ids[0]); err == nil || !s.Unavailable(err) {
			t.Errorf("%s shutdown: read: %v, Unavailable %v; want an unavailable error", mode, err, s.Unavailable(err))
		}
		if _, err := create(100 + i); err == nil || !s.Unavailable(err) {
			t.Errorf("%s shutdown: create: %v, Unavailable %v; want an unavailable error", mode, err, s.Unavailable(err))
		}
		if err := s.Ping(ctx); err == nil || !s.Unavailable(err) {
			t.Errorf("%s shutdown: ping: %v, Unavailable %v; want an unavailable error", mode, err, s.Unavailable(err))
		}
		cl.Start(t)

		if err := s.Ping(ctx); err != nil {
			t.Fatalf("%s shutdown: ping after the server came back: %v", mode, err)
		}
		for _, id := range ids {
			if _, err := s.Read(ctx, "Patient", id); err != nil {
				t.Errorf("%s shutdown: Patient/%s, committed before the stop: %v", mode, id, err)
			}
		}
		if _, err := create(200 + i); err != nil {
			t.Errorf("%s shutdown: create after the server came back: %v", mode, err)
		}
	}
}
