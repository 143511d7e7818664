package interaction_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlite"
)

// host serves every type and interaction, validates nothing, and records
// the audits and failures a run reports.
type host struct {
	st       store.Store
	audited  []int
	failures []int
}

func (h *host) Supports(string, ...string) error { return nil }
func (h *host) Search(string, url.Values, bool) (interaction.Search, error) {
	return nil, fhir.Errorf(fhir.CodeNotSupported, "no searches here")
}
func (h *host) Read(*interaction.Entry) (interaction.Render, error) {
	return func(v store.Version) (interaction.Result, error) {
		return interaction.Result{Outcome: interaction.Done, Version: v, Body: v.Body}, nil
	}, nil
}
func (h *host) Validate(context.Context, *fhir.Resource, bool) error { return nil }
func (h *host) Guard(tx store.Tx) interaction.Guarded                { return guarded{tx} }
func (h *host) VersionRead(ctx context.Context, typ, id string, n int64) (store.Version, error) {
	return h.st.VRead(ctx, typ, id, n)
}
func (h *host) PatchChecks(bool) interaction.PatchChecks { return interaction.PatchChecks{} }
func (h *host) Audit(_ context.Context, _ store.Tx, e *interaction.Entry, _ interaction.Result, _ []string) error {
	h.audited = append(h.audited, e.Index)
	return nil
}
func (h *host) Failed(e *interaction.Entry, _ error) { h.failures = append(h.failures, e.Index) }

type guarded struct{ store.Tx }

func (guarded) Practices() []string                                           { return nil }
func (guarded) PracticesOf([]byte) []string                                   { return nil }
func (guarded) Restricted(string) bool                                        { return false }
func (guarded) Batchable(string, bool) bool                                   { return true }
func (guarded) CheckCreate(context.Context, *fhir.Resource) ([]string, error) { return nil, nil }
func (guarded) CheckUpdate(context.Context, *fhir.Resource) ([]string, error) { return nil, nil }
func (g guarded) AfterWrite(_ context.Context, _ []string, res store.WriteResult) (store.WriteResult, error) {
	return res, nil
}

func open(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// parse reads a Bundle's entries as the gateway does.
func parse(t *testing.T, h *host, bundle string) (kind string, entries []*interaction.Entry, errs []error) {
	t.Helper()
	kind, list, err := interaction.ReadBundle([]byte(bundle), 100)
	require.NoError(t, err)
	entries, errs = make([]*interaction.Entry, len(list)), make([]error, len(list))
	for i, raw := range list {
		entries[i], errs[i] = interaction.ParseEntry(context.Background(), h, "http://x/fhir", i, raw, false)
		if errs[i] != nil {
			errs[i] = interaction.EntryError(entries[i], errs[i])
		}
	}
	return kind, entries, errs
}

// TestParseEntryErrors: an entry's errors name it, and carry the status
// the gateway answered before they were issue codes and details.
func TestParseEntryErrors(t *testing.T) {
	h := &host{}
	for _, c := range []struct {
		name, entry string
		status      int
		code        fhir.IssueCode
	}{
		{"no request", `{"resource":{"resourceType":"Patient"}}`, 400, fhir.CodeRequired},
		{"no url", `{"request":{"method":"GET"}}`, 400, fhir.CodeRequired},
		{"another server", `{"request":{"method":"GET","url":"http://other/fhir/Patient/1"}}`, 400, fhir.CodeNotSupported},
		{"bad method", `{"request":{"method":"TRACE","url":"Patient/1"}}`, 400, fhir.CodeNotSupported},
		{"not an interaction", `{"request":{"method":"DELETE","url":"Patient"}}`, 400, fhir.CodeNotSupported},
		{"invalid id", `{"request":{"method":"GET","url":"Patient/no_such"}}`, 404, fhir.CodeNotFound},
		{"no resource", `{"request":{"method":"POST","url":"Patient"}}`, 400, fhir.CodeRequired},
		{"PUT without id", `{"resource":{"resourceType":"Patient"},"request":{"method":"PUT","url":"Patient/a"}}`, 400, fhir.CodeRequired},
		{"type mismatch", `{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Group"}}`, 400, fhir.CodeInvalid},
		{"bad ifMatch", `{"resource":{"resourceType":"Patient","id":"a"},"request":{"method":"PUT","url":"Patient/a","ifMatch":"x"}}`, 400, fhir.CodeInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, errs := parse(t, h, `{"resourceType":"Bundle","type":"batch","entry":[`+c.entry+`]}`)
			fe, ok := fhir.AsError(errs[0])
			require.True(t, ok, "%v", errs[0])
			assert.Equal(t, c.status, fhir.HTTPStatus(fe))
			assert.Equal(t, c.code, fe.Code())
			assert.Contains(t, fe.Issues[0].Diagnostics, "Bundle.entry[0]")
		})
	}
	_, _, err := interaction.ReadBundle([]byte(`{"resourceType":"Bundle","type":"batch","entry":[{},{}]}`), 1)
	fe, _ := fhir.AsError(err)
	require.NotNil(t, fe)
	assert.Equal(t, 413, fhir.HTTPStatus(fe))
}

// TestTransactionRun: a transaction's POSTs get their ids before any
// write, so a reference to an entry's fullUrl becomes Type/id; every
// entry is audited; a second entry on one resource fails the whole
// transaction, naming it, and writes nothing.
func TestTransactionRun(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	h := &host{st: st}
	_, entries, errs := parse(t, h, `{"resourceType":"Bundle","type":"transaction","entry":[
		{"fullUrl":"urn:uuid:0b2a8e4e-6d1c-4f0e-9a51-0a8b1f3d2c11","resource":{"resourceType":"Patient","active":true},"request":{"method":"POST","url":"Patient"}},
		{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:0b2a8e4e-6d1c-4f0e-9a51-0a8b1f3d2c11"}},"request":{"method":"POST","url":"Observation"}}]}`)
	require.Equal(t, []error{nil, nil}, errs)
	results, failed, err := interaction.Transaction(ctx, st, h, entries, interaction.Options{Base: "http://x/fhir"})
	require.NoError(t, err)
	assert.Equal(t, -1, failed)
	require.Len(t, results, 2)
	assert.Equal(t, interaction.Created, results[0].Outcome)
	var obs struct {
		Subject struct{ Reference string } `json:"subject"`
	}
	require.NoError(t, json.Unmarshal(results[1].Version.Body, &obs))
	assert.Equal(t, "Patient/"+results[0].Version.ID, obs.Subject.Reference)
	assert.Equal(t, []int{0, 1}, h.audited)

	_, entries, errs = parse(t, h, `{"resourceType":"Bundle","type":"transaction","entry":[
		{"resource":{"resourceType":"Patient","id":"p1"},"request":{"method":"PUT","url":"Patient/p1"}},
		{"request":{"method":"DELETE","url":"Patient/p1"}}]}`)
	require.Equal(t, []error{nil, nil}, errs)
	_, failed, err = interaction.Transaction(ctx, st, h, entries, interaction.Options{})
	fe, ok := fhir.AsError(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, 0, failed, "the PUT comes after the DELETE and fails")
	assert.Equal(t, 400, fhir.HTTPStatus(fe))
	assert.Contains(t, fe.Issues[0].Diagnostics, "Bundle.entry[0] (PUT Patient/p1)")
	_, err = st.Read(ctx, "Patient", "p1")
	assert.ErrorIs(t, err, fhir.ErrNotFound)
}

// TestBatchRun: a batch's entries succeed and fail one by one; the
// failures are reported to the host.
func TestBatchRun(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	h := &host{st: st}
	_, entries, errs := parse(t, h, `{"resourceType":"Bundle","type":"batch","entry":[
		{"resource":{"resourceType":"Patient","id":"p1"},"request":{"method":"PUT","url":"Patient/p1"}},
		{"request":{"method":"GET","url":"Patient/missing"}},
		{"request":{"method":"POST"}},
		{"request":{"method":"GET","url":"Patient/p1/_history/1"}}]}`)
	require.Error(t, errs[2])
	results := interaction.Batch(ctx, st, h, entries, errs, interaction.Options{})
	assert.Equal(t, interaction.Created, results[0].Outcome)
	assert.ErrorIs(t, errs[1], fhir.ErrNotFound)
	assert.Equal(t, interaction.Done, results[3].Outcome)
	assert.Equal(t, "p1", results[3].Version.ID)
	assert.Equal(t, []int{1, 2}, h.failures)
	assert.Equal(t, []int{0, 3}, h.audited)
}
