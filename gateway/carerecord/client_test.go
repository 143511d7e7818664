package carerecord_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlite"
	"github.com/signpost-fhir/signpost/gateway/carerecord"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// The shared care record is played by a real HTTP server on loopback: a
// FHIR search endpoint and an OAuth2 token endpoint, counting the calls.
// Nothing here asserts on time; the clock is injected only for the cache's
// maximum age, the token's expiry and the circuit's cool-down.

const (
	base       = "https://signpost.example/fhir"
	segSystem  = "https://record.example/CodeSystem/segment"
	cmID       = "care-record-need-groups"
	practice   = "Y99999"
	nhs        = "9990010005"
	clientID   = "signpost"
	secret     = "s3cret"
	recordDate = "2026-10-01T08:00:00Z"
)

// record is the fake shared care record.
type record struct {
	srv *httptest.Server
	// searches and tokens count the calls that reached each endpoint.
	searches, tokens atomic.Int64

	mu sync.Mutex
	// answer says what the next search gets: a status (0 is 200 with the
	// entry), and a code.
	answer func(n int64) (status int, code string)
	// block, when set, holds each search until it is closed or the
	// client gives up.
	block chan struct{}
}

func newRecord(t *testing.T) *record {
	rec := &record{answer: func(int64) (int, string) { return 0, "H" }}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		rec.tokens.Add(1)
		id, sec, ok := r.BasicAuth()
		if !ok || id != clientID || sec != secret || r.FormValue("grant_type") != "client_credentials" || r.FormValue("scope") != "system/Observation.rs" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":3600}`, rec.tokens.Load())
	})
	mux.HandleFunc("GET /fhir/Observation", func(w http.ResponseWriter, r *http.Request) {
		n := rec.searches.Add(1)
		rec.mu.Lock()
		answer, block := rec.answer, rec.block
		rec.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-r.Context().Done():
				return
			}
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer tok-") {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		if got := r.URL.Query().Get("subject:identifier"); got != mapping.NHSNumberSystem+"|"+nhs && got != mapping.NHSNumberSystem+"|9990010013" {
			http.Error(w, "unexpected patient "+got, http.StatusBadRequest)
			return
		}
		status, code := answer(n)
		if status != 0 {
			w.WriteHeader(status)
			fmt.Fprint(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception"}]}`)
			return
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": []any{map[string]any{
			"fullUrl": rec.srv.URL + "/fhir/Observation/seg-1",
			"search":  map[string]any{"mode": "match"},
			"resource": map[string]any{"resourceType": "Observation", "id": "seg-1", "status": "final",
				"code":                 map[string]any{"text": "Population segment"},
				"effectiveDateTime":    recordDate,
				"valueCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": segSystem, "code": code}}}},
		}}})
	})
	rec.srv = httptest.NewServer(mux)
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *record) set(answer func(n int64) (int, string)) {
	r.mu.Lock()
	r.answer = answer
	r.mu.Unlock()
}

// clock is the injected clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	st    store.Store
	term  *snomed.Terminology
	rec   *record
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.WithBaseURL(base))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	cs, err := snomed.Shipped()
	require.NoError(t, err)
	term, err := snomed.New(cs, snomed.Options{})
	require.NoError(t, err)
	_, err = term.Seed(ctx, st)
	require.NoError(t, err)
	// The record's population segments mapped to need groups: A a low
	// need adult, H end of life; X is deliberately unmapped.
	png := term.URL("CodeSystem", snomed.PatientNeedGroup)
	cm, err := fhir.ResourceFromObject(map[string]any{"resourceType": "ConceptMap", "id": cmID, "url": base + "/ConceptMap/" + cmID,
		"status": "active", "group": []any{map[string]any{"source": segSystem, "target": png, "element": []any{
			map[string]any{"code": "A", "target": []any{map[string]any{"code": "3", "equivalence": "equivalent"}}},
			map[string]any{"code": "H", "target": []any{map[string]any{"code": "11", "equivalence": "equivalent"}}},
			map[string]any{"code": "X", "target": []any{map[string]any{"equivalence": "unmatched"}}},
		}}}})
	require.NoError(t, err)
	_, err = st.Create(ctx, cm)
	require.NoError(t, err)
	return &env{st: st, term: term, rec: newRecord(t), clock: &clock{now: time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)}}
}

func (e *env) client(t *testing.T, edit ...func(*carerecord.Config)) *carerecord.Client {
	t.Helper()
	cfg := carerecord.Config{
		BaseURL: e.rec.srv.URL + "/fhir", TokenURL: e.rec.srv.URL + "/token", ClientID: clientID, ClientSecret: secret,
		Scope: "system/Observation.rs", ConceptMap: base + "/ConceptMap/" + cmID, MaxAge: 24 * time.Hour,
		Timeout: 10 * time.Second, AttemptTimeout: 5 * time.Second, Backoff: time.Millisecond,
		FailureThreshold: 3, CoolDown: time.Minute, Now: e.clock.Now,
	}
	for _, f := range edit {
		f(&cfg)
	}
	c, err := carerecord.New(cfg, e.st, e.term)
	require.NoError(t, err)
	return c
}

var patient = mapping.PatientRef{Reference: "Patient/demo-patient-adult", NHSNumber: nhs}

func TestLookupMapsStoresAndCaches(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	ctx := context.Background()

	ng, err := c.NeedGroup(ctx, patient, practice)
	require.NoError(t, err)
	assert.True(t, ng.Known)
	assert.Equal(t, "11", ng.Code, "H maps to need group 11 through the stored ConceptMap")
	assert.Equal(t, mapping.NeedHigh, ng.Level())
	assert.Equal(t, e.rec.srv.URL+"/fhir", ng.Source)
	assert.True(t, ng.Date.Equal(time.Date(2026, 10, 1, 8, 0, 0, 0, time.UTC)), "the record's date: %v", ng.Date)
	require.NotEmpty(t, ng.Observation)
	assert.EqualValues(t, 1, e.rec.searches.Load())
	assert.EqualValues(t, 1, e.rec.tokens.Load())

	// The cache: an R4 Observation with source, date, the coding and the
	// patient's NHS number, labelled with the practice; and a Provenance
	// naming the record.
	id := strings.TrimPrefix(ng.Observation, "Observation/")
	v, err := e.st.Read(ctx, "Observation", id)
	require.NoError(t, err)
	assert.NotContains(t, id, nhs, "no NHS number in ids")
	res, err := fhir.ParseResource(v.Body)
	require.NoError(t, err)
	for _, is := range fhir.Validate(res, fhir.ValidateOptions{Strict: true}) {
		assert.NotEqual(t, fhir.SeverityError, is.Severity, "R4: %v", is)
	}
	var obs map[string]any
	require.NoError(t, json.Unmarshal(v.Body, &obs))
	assert.Equal(t, e.rec.srv.URL+"/fhir", obs["meta"].(map[string]any)["source"])
	assert.Equal(t, recordDate, obs["effectiveDateTime"])
	assert.Contains(t, string(v.Body), `"code":"11"`)
	assert.Contains(t, string(v.Body), mapping.NHSNumberSystem)
	assert.Contains(t, string(v.Body), e.rec.srv.URL+"/fhir/Observation/seg-1")
	assert.Contains(t, string(v.Body), base+"/CodeSystem/practice")
	q, err := search.ParseQuery("Provenance", url.Values{}, true)
	require.NoError(t, err)
	page, err := e.st.Search(ctx, q, store.PageRequest{Count: 10})
	require.NoError(t, err)
	require.Len(t, page.Matches, 1)
	prov := string(page.Matches[0].Body)
	assert.Contains(t, prov, ng.Observation+"/_history/1")
	assert.Contains(t, prov, `"role":"source"`)
	assert.Contains(t, prov, e.rec.srv.URL+"/fhir")
	pr, err := fhir.ParseResource(page.Matches[0].Body)
	require.NoError(t, err)
	for _, is := range fhir.Validate(pr, fhir.ValidateOptions{Strict: true}) {
		assert.NotEqual(t, fhir.SeverityError, is.Severity, "R4: %v", is)
	}

	// Another patient: the cached token is reused.
	_, err = c.NeedGroup(ctx, mapping.PatientRef{NHSNumber: "9990010013"}, practice)
	require.NoError(t, err)
	assert.EqualValues(t, 2, e.rec.searches.Load())
	assert.EqualValues(t, 1, e.rec.tokens.Load(), "the token is cached until it expires")

	// Within the maximum age: the cache, no call.
	e.clock.Advance(23 * time.Hour)
	again, err := c.NeedGroup(ctx, patient, practice)
	require.NoError(t, err)
	assert.Equal(t, "11", again.Code)
	assert.Equal(t, ng.Observation, again.Observation)
	assert.EqualValues(t, 2, e.rec.searches.Load(), "a fresh cache is not refreshed")

	// Stale: the record is asked again, and its new answer cached.
	e.rec.set(func(int64) (int, string) { return 0, "A" })
	e.clock.Advance(2 * time.Hour)
	fresh, err := c.NeedGroup(ctx, patient, practice)
	require.NoError(t, err)
	assert.Equal(t, "3", fresh.Code)
	assert.EqualValues(t, 3, e.rec.searches.Load())
	assert.EqualValues(t, 2, e.rec.tokens.Load(), "the token expired after an hour")
	v, err = e.st.Read(ctx, "Observation", id)
	require.NoError(t, err)
	assert.EqualValues(t, 2, v.VersionID, "the refresh is a new version of the same Observation")
	page, err = e.st.Search(ctx, q, store.PageRequest{Count: 10})
	require.NoError(t, err)
	assert.Len(t, page.Matches, 3, "one Provenance per pull")
}

func TestFailuresAreUnavailableNeverLow(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		e := newEnv(t)
		e.rec.block = make(chan struct{}) // never answers
		c := e.client(t, func(cfg *carerecord.Config) { cfg.AttemptTimeout = 50 * time.Millisecond; cfg.Retries = 1 })
		ng, err := c.NeedGroup(context.Background(), patient, practice)
		require.ErrorIs(t, err, carerecord.ErrUnavailable)
		assert.False(t, ng.Known)
		assert.Equal(t, mapping.NeedUnknown, ng.Level())
		assert.EqualValues(t, 2, e.rec.searches.Load(), "a timed-out GET is retried")
		assert.NotContains(t, err.Error(), nhs, "no NHS number in messages")
	})
	t.Run("5xx then success", func(t *testing.T) {
		e := newEnv(t)
		e.rec.set(func(n int64) (int, string) {
			if n < 3 {
				return http.StatusServiceUnavailable, ""
			}
			return 0, "A"
		})
		c := e.client(t)
		ng, err := c.NeedGroup(context.Background(), patient, practice)
		require.NoError(t, err)
		assert.Equal(t, "3", ng.Code)
		assert.EqualValues(t, 3, e.rec.searches.Load(), "two 503s retried, then the answer")
	})
	t.Run("5xx exhausts the retries", func(t *testing.T) {
		e := newEnv(t)
		e.rec.set(func(int64) (int, string) { return http.StatusInternalServerError, "" })
		c := e.client(t)
		_, err := c.NeedGroup(context.Background(), patient, practice)
		require.ErrorIs(t, err, carerecord.ErrUnavailable)
		assert.Contains(t, err.Error(), "HTTP 500")
		assert.EqualValues(t, 3, e.rec.searches.Load(), "one try and two retries")
	})
	t.Run("4xx is not retried", func(t *testing.T) {
		e := newEnv(t)
		e.rec.set(func(int64) (int, string) { return http.StatusForbidden, "" })
		c := e.client(t)
		_, err := c.NeedGroup(context.Background(), patient, practice)
		require.ErrorIs(t, err, carerecord.ErrRejected)
		assert.EqualValues(t, 1, e.rec.searches.Load())
		assert.Equal(t, "closed", c.CircuitState(), "a record that answers is up")
	})
	t.Run("bad client credentials", func(t *testing.T) {
		e := newEnv(t)
		c := e.client(t, func(cfg *carerecord.Config) { cfg.ClientSecret = "wrong" })
		_, err := c.NeedGroup(context.Background(), patient, practice)
		require.ErrorIs(t, err, carerecord.ErrRejected)
		assert.EqualValues(t, 0, e.rec.searches.Load())
		assert.EqualValues(t, 1, e.rec.tokens.Load())
	})
	t.Run("down", func(t *testing.T) {
		e := newEnv(t)
		e.rec.srv.Close() // connection refused
		c := e.client(t)
		_, err := c.NeedGroup(context.Background(), patient, practice)
		require.ErrorIs(t, err, carerecord.ErrUnavailable)
	})
	t.Run("unmapped code", func(t *testing.T) {
		e := newEnv(t)
		e.rec.set(func(int64) (int, string) { return 0, "X" })
		c := e.client(t)
		ng, err := c.NeedGroup(context.Background(), patient, practice)
		require.ErrorIs(t, err, carerecord.ErrUnmapped)
		assert.False(t, ng.Known)
		assert.Contains(t, err.Error(), segSystem+"|X")
		// The engine turns it into the warning and an unknown need group.
		a := mapping.Assess(mapping.AssessInput{Request: &mapping.Request{}, Need: ng, NeedErr: err, Now: e.clock.Now()})
		assert.Equal(t, mapping.NeedUnknown, a.Need.Level())
		assert.Contains(t, fmt.Sprint(a.Issues), "need group is unavailable")
		assert.Contains(t, fmt.Sprint(a.Issues), "no patient need group mapping")
	})
	t.Run("no entry", func(t *testing.T) {
		e := newEnv(t)
		c := e.client(t, func(cfg *carerecord.Config) {
			cfg.Query = "Observation?subject:identifier=" + mapping.NHSNumberSystem + "|{nhs}&code=none"
		})
		e.rec.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				fmt.Fprint(w, `{"access_token":"tok-1","token_type":"Bearer","expires_in":3600}`)
				return
			}
			e.rec.searches.Add(1)
			fmt.Fprint(w, `{"resourceType":"Bundle","type":"searchset","total":0}`)
		})
		ng, err := c.NeedGroup(context.Background(), patient, practice)
		require.NoError(t, err)
		assert.False(t, ng.Known, "nothing in the record: not known")
		assert.EqualValues(t, 1, e.rec.searches.Load())
	})
	t.Run("no NHS number", func(t *testing.T) {
		e := newEnv(t)
		c := e.client(t)
		ng, err := c.NeedGroup(context.Background(), mapping.PatientRef{Reference: "Patient/x"}, practice)
		require.NoError(t, err)
		assert.False(t, ng.Known)
		assert.EqualValues(t, 0, e.rec.searches.Load())
	})
}

func TestCircuitOpensAndRecovers(t *testing.T) {
	e := newEnv(t)
	e.rec.set(func(int64) (int, string) { return http.StatusBadGateway, "" })
	c := e.client(t, func(cfg *carerecord.Config) { cfg.Retries = -1; cfg.FailureThreshold = 3 })
	ctx := context.Background()
	for i := range 3 {
		_, err := c.NeedGroup(ctx, patient, practice)
		require.ErrorIs(t, err, carerecord.ErrUnavailable, "lookup %d", i)
	}
	assert.Equal(t, "open", c.CircuitState())
	assert.EqualValues(t, 3, e.rec.searches.Load())
	_, err := c.NeedGroup(ctx, patient, practice)
	require.ErrorIs(t, err, carerecord.ErrCircuitOpen)
	assert.EqualValues(t, 3, e.rec.searches.Load(), "an open circuit does not call the record")

	// After the cool-down one probe goes out; it fails: open again.
	e.clock.Advance(time.Minute)
	assert.Equal(t, "half-open", c.CircuitState())
	_, err = c.NeedGroup(ctx, patient, practice)
	require.ErrorIs(t, err, carerecord.ErrUnavailable)
	assert.EqualValues(t, 4, e.rec.searches.Load())
	assert.Equal(t, "open", c.CircuitState())
	_, err = c.NeedGroup(ctx, patient, practice)
	require.ErrorIs(t, err, carerecord.ErrCircuitOpen)

	// The record is back: the next probe closes the circuit.
	e.rec.set(func(int64) (int, string) { return 0, "A" })
	e.clock.Advance(time.Minute)
	ng, err := c.NeedGroup(ctx, patient, practice)
	require.NoError(t, err)
	assert.Equal(t, "3", ng.Code)
	assert.Equal(t, "closed", c.CircuitState())
	_, err = c.NeedGroup(ctx, mapping.PatientRef{NHSNumber: "9990010013"}, practice)
	require.NoError(t, err)
	assert.EqualValues(t, 6, e.rec.searches.Load())
}

func TestConcurrentLookupsOfOnePatientShareOneCall(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	e.rec.block = release
	c := e.client(t)
	const n = 50
	var started, done sync.WaitGroup
	started.Add(n)
	done.Add(n)
	results := make([]mapping.NeedGroup, n)
	errs := make([]error, n)
	for i := range n {
		go func() {
			defer done.Done()
			started.Done()
			results[i], errs[i] = c.NeedGroup(context.Background(), patient, practice)
		}()
	}
	started.Wait()
	// Let the lookups reach the record, which holds the first one; the
	// count below does not depend on this pause (a late lookup finds the
	// cache), only the test's strength does.
	for e.rec.searches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	done.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, "11", results[i].Code)
	}
	assert.EqualValues(t, 1, e.rec.searches.Load(), "50 concurrent lookups, one upstream call")
	assert.EqualValues(t, 1, e.rec.tokens.Load())
}

func TestACallerDeadlineDoesNotFailTheOthers(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	e.rec.block = release
	c := e.client(t)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.NeedGroup(ctx, patient, practice)
		first <- err
	}()
	for e.rec.searches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	err := <-first
	require.ErrorIs(t, err, carerecord.ErrUnavailable, "the cancelled caller stops waiting")
	require.True(t, errors.Is(err, context.Canceled))
	second := make(chan error, 1)
	go func() {
		ng, err := c.NeedGroup(context.Background(), patient, practice)
		if err == nil && ng.Code != "11" {
			err = fmt.Errorf("need group %q", ng.Code)
		}
		second <- err
	}()
	close(release)
	require.NoError(t, <-second)
	assert.EqualValues(t, 1, e.rec.searches.Load(), "the shared call went on")
}

func TestStaticTokenAndConceptMapByID(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, func(cfg *carerecord.Config) {
		cfg.TokenURL, cfg.ClientID, cfg.ClientSecret, cfg.Scope = "", "", "", ""
		cfg.Token = "tok-static"
		cfg.ConceptMap = cmID
	})
	ng, err := c.NeedGroup(context.Background(), patient, practice)
	require.NoError(t, err)
	assert.Equal(t, "11", ng.Code)
	assert.EqualValues(t, 0, e.rec.tokens.Load())
}

func TestConfigIsChecked(t *testing.T) {
	e := newEnv(t)
	for name, cfg := range map[string]carerecord.Config{
		"no base":        {ConceptMap: cmID},
		"no ConceptMap":  {BaseURL: "https://record.example/fhir"},
		"no placeholder": {BaseURL: "https://record.example/fhir", ConceptMap: cmID, Query: "Observation?code=x"},
		"both auths":     {BaseURL: "https://record.example/fhir", ConceptMap: cmID, Token: "t", TokenURL: "https://idp.example/token", ClientID: "a", ClientSecret: "b"},
		"no secret":      {BaseURL: "https://record.example/fhir", ConceptMap: cmID, TokenURL: "https://idp.example/token", ClientID: "a"},
	} {
		_, err := carerecord.New(cfg, e.st, e.term)
		assert.Error(t, err, name)
	}
}

// A record that answers about someone else (it ignored the identifier
// and returned its newest Observation) is not used, not cached, and the
// need group stays unknown with a warning; the subject is checked by its
// identifier or through the Patient the answer includes.
func TestAnAnswerAboutAnotherPatientIsIgnored(t *testing.T) {
	observation := func(subject map[string]any) map[string]any {
		return map[string]any{"fullUrl": "https://record.example/fhir/Observation/seg-9", "search": map[string]any{"mode": "match"},
			"resource": map[string]any{"resourceType": "Observation", "id": "seg-9", "status": "final", "subject": subject,
				"effectiveDateTime":    recordDate,
				"valueCodeableConcept": map[string]any{"coding": []any{map[string]any{"system": segSystem, "code": "A"}}}}}
	}
	patientEntry := func(number string) map[string]any {
		return map[string]any{"fullUrl": "https://record.example/fhir/Patient/p-1", "search": map[string]any{"mode": "include"},
			"resource": map[string]any{"resourceType": "Patient", "id": "p-1",
				"identifier": []any{map[string]any{"system": mapping.NHSNumberSystem, "value": number}}}}
	}
	for _, tc := range []struct {
		name    string
		entries []any
		other   bool
	}{
		{"another NHS number on the subject", []any{observation(map[string]any{"identifier": map[string]any{"system": mapping.NHSNumberSystem, "value": "9990010013"}})}, true},
		{"another patient through the included Patient", []any{observation(map[string]any{"reference": "Patient/p-1"}), patientEntry("9990010013")}, true},
		{"the patient through the included Patient", []any{observation(map[string]any{"reference": "Patient/p-1"}), patientEntry(nhs)}, false},
		{"the patient's NHS number on the subject", []any{observation(map[string]any{"identifier": map[string]any{"system": mapping.NHSNumberSystem, "value": nhs}})}, false},
		// The record ignored _include too: the Patient is read from it.
		{"another patient through a Patient read from the record", []any{observation(map[string]any{"reference": "Patient/p-other"})}, true},
		{"another patient through an absolute reference read from the record", []any{observation(map[string]any{"reference": "{base}/Patient/p-other"})}, true},
		{"the patient through a Patient read from the record", []any{observation(map[string]any{"reference": "Patient/p-self"})}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.client(t)
			var query url.Values
			e.rec.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/token" {
					fmt.Fprint(w, `{"access_token":"tok-1","token_type":"Bearer","expires_in":3600}`)
					return
				}
				if number, ok := map[string]string{"/Patient/p-other": "9990010013", "/Patient/p-self": nhs}[strings.TrimPrefix(r.URL.Path, "/fhir")]; ok {
					json.NewEncoder(w).Encode(map[string]any{"resourceType": "Patient", "id": path.Base(r.URL.Path),
						"identifier": []any{map[string]any{"system": mapping.NHSNumberSystem, "value": number}}})
					return
				}
				query = r.URL.Query()
				body, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": tc.entries})
				w.Write([]byte(strings.ReplaceAll(string(body), "{base}", "http://"+r.Host+"/fhir")))
			})
			ng, err := c.NeedGroup(context.Background(), patient, practice)
			assert.Equal(t, "Observation:subject", query.Get("_include"), "the default query brings the subject, so that it can be checked")
			if !tc.other {
				require.NoError(t, err)
				assert.True(t, ng.Known)
				assert.Equal(t, "3", ng.Code)
				return
			}
			require.ErrorIs(t, err, carerecord.ErrOtherPatient)
			assert.False(t, ng.Known)
			a := mapping.Assess(mapping.AssessInput{Request: &mapping.Request{}, Need: ng, NeedErr: err, Now: e.clock.Now()})
			assert.Equal(t, mapping.NeedUnknown, a.Need.Level(), "never another patient's need group, never low")
			assert.Contains(t, fmt.Sprint(a.Issues), "another patient")
			// Nothing was cached as the patient's.
			q, err := search.ParseQuery("Observation", url.Values{}, true)
			require.NoError(t, err)
			page, err := e.st.Search(context.Background(), q, store.PageRequest{Count: 10})
			require.NoError(t, err)
			assert.Empty(t, page.Matches)
		})
	}
}
