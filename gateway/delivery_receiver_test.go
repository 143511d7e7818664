package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/carerecord"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
)

// strictClinicalSystem is a practice's clinical system on loopback that
// applies each delivered transaction Bundle as docs/delivery.md describes
// and a strict FHIR server would: the Bundle must validate (the gateway's
// own R4 validator, unknown elements refused); every reference in it must
// be an entry's fullUrl, absolute, or to a contained resource (referential
// integrity: it holds nothing of Signpost's); a Bundle whose Task version
// (Task.meta.source) is older than the one held is refused; a conditional
// update creates or replaces its one match, a conditional create that
// matches changes nothing. It remembers what it holds by conditional URL.
type strictClinicalSystem struct {
	t  *testing.T
	mu sync.Mutex
	// held is what it holds, by Type?criteria.
	held map[string]map[string]any
	// version is the Task version held, by the Task's conditional URL.
	version  map[string]int
	bundles  [][]byte
	refusals []string
}

func newStrictClinicalSystem(t *testing.T) *strictClinicalSystem {
	return &strictClinicalSystem{t: t, held: map[string]map[string]any{}, version: map[string]int{}}
}

func (cs *strictClinicalSystem) refuse(w http.ResponseWriter, code int, why string) {
	cs.refusals = append(cs.refusals, why)
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":%q}]}`, why)
}

func (cs *strictClinicalSystem) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer practice-token" || r.Header.Get("Content-Type") != "application/fhir+json" {
		cs.refuse(w, http.StatusUnauthorized, "no credentials or not FHIR JSON")
		return
	}
	body, _ := io.ReadAll(r.Body)
	cs.bundles = append(cs.bundles, body)
	res, err := fhir.ParseResource(body)
	if err != nil {
		cs.refuse(w, http.StatusBadRequest, "not a resource: "+err.Error())
		return
	}
	if err := res.Validate(fhir.ValidateOptions{Strict: true}); err != nil {
		cs.refuse(w, http.StatusBadRequest, "invalid Bundle: "+err.Error())
		return
	}
	var b struct {
		Type  string
		Entry []struct {
			FullURL  string
			Resource map[string]any
			Request  struct{ Method, URL, IfNoneExist string }
		}
	}
	require.NoError(cs.t, json.Unmarshal(body, &b))
	if b.Type != "transaction" || len(b.Entry) == 0 || b.Entry[0].Resource["resourceType"] != "Task" {
		cs.refuse(w, http.StatusBadRequest, "not a transaction led by its Task")
		return
	}
	full := map[string]bool{}
	for _, e := range b.Entry {
		full[e.FullURL] = true
	}
	var dangling []string
	for _, e := range b.Entry {
		fhir.RewriteReferences(e.Resource, func(ref string) (string, bool) {
			u, err := url.Parse(ref)
			if !full[ref] && !strings.HasPrefix(ref, "#") && (err != nil || !u.IsAbs() || (u.Scheme != "https" && u.Scheme != "http")) {
				dangling = append(dangling, ref)
			}
			return "", false
		})
	}
	if len(dangling) > 0 {
		cs.refuse(w, http.StatusUnprocessableEntity, "references to nothing held here: "+strings.Join(dangling, ", "))
		return
	}
	task := b.Entry[0].Request.URL
	meta, _ := b.Entry[0].Resource["meta"].(map[string]any)
	src, _ := meta["source"].(string)
	v := -1
	if i := strings.LastIndex(src, "/_history/"); i >= 0 {
		v, _ = strconv.Atoi(src[i+len("/_history/"):])
	}
	if v < 0 {
		cs.refuse(w, http.StatusUnprocessableEntity, "the Task does not say its version (meta.source)")
		return
	}
	if held, ok := cs.version[task]; ok && v < held {
		cs.refuse(w, http.StatusConflict, "a later version of the Task is held")
		return
	}
	cs.version[task] = v
	for _, e := range b.Entry {
		switch e.Request.Method {
		case "PUT":
			if !strings.Contains(e.Request.URL, "?identifier=") {
				cs.refuse(w, http.StatusBadRequest, "a PUT that is not a conditional update on an identifier")
				return
			}
			cs.held[e.Request.URL] = e.Resource
		case "POST":
			key := e.Request.URL + "?" + e.Request.IfNoneExist
			if e.Request.IfNoneExist == "" {
				cs.refuse(w, http.StatusBadRequest, "an unconditional create")
				return
			}
			if cs.held[key] == nil {
				cs.held[key] = e.Resource
			}
		default:
			cs.refuse(w, http.StatusBadRequest, "method "+e.Request.Method)
			return
		}
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	io.WriteString(w, `{"resourceType":"Bundle","type":"transaction-response"}`)
}

// needGroupAt is the need-group code the receiver holds in the Observation
// with identifier value id (the gateway's cached Observation).
func (cs *strictClinicalSystem) needGroupAt(id string) string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for k, obs := range cs.held {
		if !strings.HasPrefix(k, "Observation?") || !strings.HasSuffix(k, url.QueryEscape("|"+id)) {
			continue
		}
		cc, _ := obs["valueCodeableConcept"].(map[string]any)
		for _, c := range listAny(cc["coding"]) {
			return fmt.Sprint(c.(map[string]any)["code"])
		}
	}
	return ""
}

// TestDeliveredBundleKeepsTheReceiverCurrent: a patient's need group in
// the shared care record changes (3, then 11) and the cached Observation
// is refreshed between two decisions on one Task; both are delivered to a
// strict clinical system. Every Bundle validates and refers to nothing
// the receiver lacks (references to Signpost's HealthcareService,
// PlanDefinition and ConceptMap are absolute at the gateway's public
// base), the receiver ends with the refreshed need group and the latest
// decision, and a late copy of the first Bundle is refused by the Task
// version it carries.
func TestDeliveredBundleKeepsTheReceiverCurrent(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			ob := st.(store.Outbox)
			var code atomic.Value
			code.Store("A") // need group 3
			rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				segmentRecord(code.Load().(string), 0, new(atomic.Int64))(w, r)
			}))
			t.Cleanup(rec.Close)
			var recordNow atomic.Pointer[time.Time]
			first := nvNow
			recordNow.Store(&first)
			client, err := carerecord.New(carerecord.Config{BaseURL: rec.URL + "/fhir", ConceptMap: "care-record-need-groups", MaxAge: time.Hour,
				Now: func() time.Time { return *recordNow.Load() }}, st, shippedTerminology(t))
			require.NoError(t, err)
			g := newNavGateway(t, st, nvOptions{needs: client, delivery: true, publicBase: "https://signpost.nhs.example/fhir"})
			storeCareRecordMap(t, st)
			cs := newStrictClinicalSystem(t)
			receiver := httptest.NewServer(cs)
			t.Cleanup(receiver.Close)
			connectDemoPractice(t, st, receiver.URL+"/fhir")
			startDeliverers(t, st, ob, clinicalsystem.Config{Workers: 2, Timeout: 5 * time.Second, Poll: 5 * time.Millisecond,
				Backoff: store.Backoff{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxAttempts: 100}})

			nav := nvNavigator("expert", "Y99999")
			id := nvTaskAbout(t, g, nav, "online", "Earache", 2)
			delivered := func(n int) func() bool {
				return func() bool {
					ds, err := ob.Deliveries(ctx, id)
					require.NoError(t, err)
					done := 0
					for _, d := range ds {
						if d.Status == store.DeliveryDelivered {
							done++
						}
						require.NotEqual(t, store.DeliveryDead, d.Status, "dead letter: %s", d.LastError)
					}
					return done == n
				}
			}
			res := nvNavigate(t, g, nav, id, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			obsRef := fmt.Sprint(res.allocation["supportingInfo"])
			require.Contains(t, obsRef, "Observation/care-record-need-group-")
			obsID := obsRef[strings.Index(obsRef, "care-record-need-group-"):]
			obsID = obsID[:strings.IndexAny(obsID, " ]}")]
			poll(t, "the first delivery", delivered(1))
			assert.Equal(t, "3", cs.needGroupAt(obsID), "the first decision's need group at the receiver")

			// The record now says 11, and the cached value is past its age.
			code.Store("H")
			later := nvNow.Add(2 * time.Hour)
			recordNow.Store(&later)
			res2 := nvNavigate(t, g, nav, id, nil)
			require.Equal(t, http.StatusOK, res2.status, "%s", res2.raw)
			require.Contains(t, res2.rules(), "safety-3-complex-needs", "the refreshed need group (11) was used")
			require.Contains(t, fmt.Sprint(res2.allocation["supportingInfo"]), obsID, "the same cached Observation, refreshed")
			poll(t, "the second delivery", delivered(2))

			assert.Equal(t, "11", cs.needGroupAt(obsID), "the receiver holds the need group the latest decision used")
			cs.mu.Lock()
			require.Empty(t, cs.refusals, "the receiver refused a delivery")
			require.Len(t, cs.bundles, 2)
			bundles := append([][]byte(nil), cs.bundles...)
			cs.mu.Unlock()
			for _, b := range bundles {
				s := string(b)
				for _, local := range []string{`"HealthcareService/`, `"PlanDefinition/`, `"ConceptMap/`, `"Patient/`} {
					assert.False(t, strings.Contains(s, local), "a relative reference to what only Signpost holds: %s", local)
				}
			}
			assert.Contains(t, string(bundles[1]), `"https://signpost.nhs.example/fhir/Task/`+id+`/_history/`, "the Task's version at the public base")
			// The receiver holds the latest decision's Task: its allocation
			// is the second one.
			taskKey := "Task?identifier=" + url.QueryEscape(nvBase+"/sid/task|"+id)
			cs.mu.Lock()
			heldTask := cs.held[taskKey]
			cs.mu.Unlock()
			if heldTask == nil { // the Task has an identifier of its own
				for k, v := range cs.held {
					if strings.HasPrefix(k, "Task?") {
						heldTask = v
					}
				}
			}
			require.NotNil(t, heldTask)
			assert.Equal(t, res2.task["meta"].(map[string]any)["versionId"], versionOfSource(t, heldTask))

			// A late copy of the first Bundle (a request the receiver held
			// past the worker's timeout) changes nothing.
			req, err := http.NewRequest(http.MethodPost, receiver.URL+"/fhir", strings.NewReader(string(bundles[0])))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("Authorization", "Bearer practice-token")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusConflict, resp.StatusCode)
			assert.Equal(t, "11", cs.needGroupAt(obsID), "a stale Bundle went back to the earlier need group")
		})
	}
}

// versionOfSource is the version in a delivered Task's meta.source.
func versionOfSource(t *testing.T, task map[string]any) string {
	meta, _ := task["meta"].(map[string]any)
	src, _ := meta["source"].(string)
	i := strings.LastIndex(src, "/_history/")
	require.GreaterOrEqual(t, i, 0, "meta.source %q", src)
	return src[i+len("/_history/"):]
}
