package gateway_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
)

// barsReceiver is a BaRS receiver on loopback that behaves like the
// standard's mock receiver: it checks every header the API description
// requires and the message's shape (a valid R4 message Bundle, MessageHeader
// first, event servicerequest-request, focus the ServiceRequest, every
// reference to an entry), answers a refusal with the standard's
// OperationOutcome, and accepts, fails (REC_SERVER_ERROR) or hangs as
// told.
type barsReceiver struct {
	*httptest.Server
	t    *testing.T
	mu   sync.Mutex
	mode string // accept, fail, hang
	// target is the NHSD-Target-Identifier expected (system, value).
	target [2]string
	got    []barsReceived
	// refusals are why messages were refused (a bug in what was sent).
	refusals []string
}

type barsReceived struct {
	header http.Header
	body   []byte
	bundle struct {
		Type  string
		Entry []struct {
			FullURL  string
			Resource map[string]any
		}
	}
}

func newBaRSReceiver(t *testing.T, target [2]string) *barsReceiver {
	rc := &barsReceiver{t: t, mode: "accept", target: target}
	rc.Server = httptest.NewServer(rc)
	t.Cleanup(rc.Close)
	return rc
}

func (rc *barsReceiver) setMode(m string) { rc.mu.Lock(); rc.mode = m; rc.mu.Unlock() }

func (rc *barsReceiver) received() []barsReceived {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]barsReceived(nil), rc.got...)
}

func barsFixture(t *testing.T, name string) []byte {
	b, err := os.ReadFile("../testdata/bars/" + name)
	require.NoError(t, err)
	return b
}

func (rc *barsReceiver) answer(w http.ResponseWriter, r *http.Request, status int, fixture string) {
	for _, h := range []string{"X-Request-ID", "X-Correlation-ID"} {
		if v := r.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.WriteHeader(status)
	w.Write(barsFixture(rc.t, fixture))
}

func (rc *barsReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	mode := rc.mode
	rc.mu.Unlock()
	if mode == "hang" {
		<-r.Context().Done()
		return
	}
	refuse := func(why string) {
		rc.mu.Lock()
		rc.refusals = append(rc.refusals, why)
		rc.mu.Unlock()
		rc.answer(w, r, http.StatusBadRequest, "outcome-bad-request.json")
	}
	if r.Method != http.MethodPost || r.URL.Path != "/bars/$process-message" {
		refuse("not POST /bars/$process-message: " + r.Method + " " + r.URL.Path)
		return
	}
	if r.Header.Get("Authorization") != "Bearer bars-token" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h := r.Header
	for _, name := range []string{"X-Request-ID", "X-Correlation-ID"} {
		if _, err := uuid.Parse(h.Get(name)); err != nil {
			refuse(name + " is not a uuid")
			return
		}
	}
	if !strings.HasPrefix(h.Get("Content-Type"), "application/fhir+json") || !strings.Contains(h.Get("Accept"), "version=") {
		refuse("Content-Type or Accept")
		return
	}
	var target struct{ System, Value string }
	if raw, err := base64.StdEncoding.DecodeString(h.Get("NHSD-Target-Identifier")); err != nil || json.Unmarshal(raw, &target) != nil ||
		target.System != rc.target[0] || target.Value != rc.target[1] {
		refuse("NHSD-Target-Identifier")
		return
	}
	if h.Get("NHSD-End-User-Organisation-ODS") != "Y99999" {
		refuse("NHSD-End-User-Organisation-ODS")
		return
	}
	var org, dev map[string]any
	if raw, err := base64.StdEncoding.DecodeString(h.Get("NHSD-End-User-Organisation")); err != nil || json.Unmarshal(raw, &org) != nil || org["resourceType"] != "Organization" {
		refuse("NHSD-End-User-Organisation")
		return
	}
	if raw, err := base64.StdEncoding.DecodeString(h.Get("NHSD-Requesting-Software")); err != nil || json.Unmarshal(raw, &dev) != nil || dev["resourceType"] != "Device" {
		refuse("NHSD-Requesting-Software")
		return
	}
	if h.Get("use-context") == "" {
		refuse("use-context")
		return
	}
	res, err := fhir.ParseResource(body)
	if err != nil {
		refuse("not a resource")
		return
	}
	if err := res.Validate(fhir.ValidateOptions{Strict: true}); err != nil {
		refuse("not valid R4: " + err.Error())
		return
	}
	var got barsReceived
	got.header, got.body = h.Clone(), body
	require.NoError(rc.t, json.Unmarshal(body, &got.bundle))
	if why := barsShape(got); why != "" {
		refuse(why)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, got)
	rc.mu.Unlock()
	if mode == "fail" {
		rc.answer(w, r, http.StatusInternalServerError, "outcome-server-error.json")
		return
	}
	rc.answer(w, r, http.StatusOK, "process-message-success.json")
}

// barsShape says what is wrong with a message's shape ("" for nothing).
func barsShape(m barsReceived) string {
	b := m.bundle
	if b.Type != "message" || len(b.Entry) < 2 || b.Entry[0].Resource["resourceType"] != "MessageHeader" {
		return "not a message Bundle led by its MessageHeader"
	}
	full := map[string]map[string]any{}
	for _, e := range b.Entry {
		if !strings.HasPrefix(e.FullURL, "urn:uuid:") {
			return "a fullUrl that is not a urn:uuid"
		}
		full[e.FullURL] = e.Resource
	}
	var dangling []string
	for _, e := range b.Entry {
		fhir.RewriteReferences(e.Resource, func(ref string) (string, bool) {
			if full[ref] == nil {
				dangling = append(dangling, ref)
			}
			return "", false
		})
	}
	if len(dangling) > 0 {
		return "references to nothing in the message: " + strings.Join(dangling, ", ")
	}
	hdr := b.Entry[0].Resource
	ev, _ := hdr["eventCoding"].(map[string]any)
	if ev["system"] != clinicalsystem.BaRSEventSystem || ev["code"] != "servicerequest-request" {
		return "event"
	}
	focus, _ := hdr["focus"].([]any)
	if len(focus) != 1 {
		return "focus"
	}
	sr := full[focus[0].(map[string]any)["reference"].(string)]
	if sr == nil || sr["resourceType"] != "ServiceRequest" {
		return "the focus is not the ServiceRequest"
	}
	src, _ := hdr["source"].(map[string]any)
	if !strings.HasSuffix(fmt.Sprint(src["endpoint"]), "/$process-message") {
		return "source.endpoint"
	}
	pat := full[sr["subject"].(map[string]any)["reference"].(string)]
	if pat == nil || !strings.Contains(fmt.Sprint(pat["identifier"]), "https://fhir.nhs.uk/Id/nhs-number") {
		return "no Patient with an NHS number"
	}
	if full[fmt.Sprint(hdr["sender"].(map[string]any)["reference"])]["resourceType"] != "Organization" {
		return "sender"
	}
	return ""
}

// barsHeader and barsSR read a received message.
func (m barsReceived) headerRes() map[string]any { return m.bundle.Entry[0].Resource }
func (m barsReceived) serviceRequest() map[string]any {
	for _, e := range m.bundle.Entry {
		if e.Resource["resourceType"] == "ServiceRequest" {
			return e.Resource
		}
	}
	return nil
}
func (m barsReceived) reason() string {
	r, _ := m.headerRes()["reason"].(map[string]any)
	for _, c := range listAny(r["coding"]) {
		return fmt.Sprint(c.(map[string]any)["code"])
	}
	return ""
}
func (m barsReceived) types() map[string]int {
	out := map[string]int{}
	for _, e := range m.bundle.Entry {
		out[fmt.Sprint(e.Resource["resourceType"])]++
	}
	return out
}

const pfDoSID = "2000099999"

// connectPharmacyFirstBaRS gives the demo Pharmacy First a BaRS messaging
// Endpoint at address (sending "Authorization: Bearer bars-token", stored
// sealed) and a DoS id, straight in the store.
func connectPharmacyFirstBaRS(t *testing.T, st store.Store, address string) {
	t.Helper()
	ctx := context.Background()
	token := sealedAsStored(t, st, "Bearer bars-token")
	ep, err := fhir.ParseResource([]byte(`{"resourceType":"Endpoint","id":"pf-bars","status":"active",
		"connectionType":{"system":"http://terminology.hl7.org/CodeSystem/endpoint-connection-type","code":"hl7-fhir-msg"},
		"payloadType":[{"coding":[{"system":"https://fhir.nhs.uk/CodeSystem/message-events-bars","code":"servicerequest-request"}]}],
		"address":"` + address + `","header":["Authorization: ` + token + `"]}`))
	require.NoError(t, err)
	_, err = st.Create(ctx, ep)
	require.NoError(t, err)
	v, err := st.Read(ctx, "HealthcareService", "demo-pharmacy-first")
	require.NoError(t, err)
	hs, err := fhir.ParseResource(v.Body)
	require.NoError(t, err)
	hs.Object()["endpoint"] = []any{map[string]any{"reference": "Endpoint/pf-bars"}}
	hs.Object()["identifier"] = append(listAny(hs.Object()["identifier"]), map[string]any{"system": "https://fhir.nhs.uk/Id/dos-service-id", "value": pfDoSID})
	_, err = st.Update(ctx, hs, store.Precondition{})
	require.NoError(t, err)
}

func barsDeliveries(t *testing.T, ob store.Outbox, task string) []store.Delivery {
	ds, err := ob.Deliveries(context.Background(), clinicalsystem.BaRSKey(task))
	require.NoError(t, err)
	return ds
}

// TestBaRSReferralIsSent: a committed decision for the demo Pharmacy
// First, which lists a BaRS Endpoint, sends a referral request with every
// header to {address}/$process-message: a receiver failing with the
// standard's REC_SERVER_ERROR is retried with the same correlation and
// message, new request ids; the accepted referral is delivered; a decline
// and re-navigation sends the cancellation (ServiceRequest revoked) under
// the same correlation id; a refusal (REC_BAD_REQUEST) is a dead letter,
// listed and redeliverable. On both stores.
func TestBaRSReferralIsSent(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			st := sc.open(t)
			ob := st.(store.Outbox)
			g := newNavGateway(t, st, nvOptions{delivery: true, publicBase: "https://signpost.test/fhir"})
			rc := newBaRSReceiver(t, [2]string{"https://fhir.nhs.uk/Id/dos-service-id", pfDoSID})
			connectPharmacyFirstBaRS(t, st, rc.URL+"/bars")
			nav := nvNavigator("expert", "Y99999")

			// A proposal sends nothing.
			id := g.created(t, nav, "Task", withShareConsent(nvTask(nvClinical("phone", "Earache", 3.0), "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow), true))
			res := nvNavigate(t, g, nav, id, []any{map[string]any{"name": "mode", "valueCode": "propose"}})
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			assert.Empty(t, barsDeliveries(t, ob, id), "a proposal was referred")

			res = nvNavigate(t, g, nav, id, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			require.Equal(t, "demo-pharmacy-first", res.destination())
			allocation := res.allocation["id"].(string)
			ds := barsDeliveries(t, ob, id)
			require.Len(t, ds, 1, "the referral is enqueued with the decision")
			assert.Equal(t, "Y99999", ds[0].Endpoint)
			out, err := ob.Deliveries(ctx, id)
			require.NoError(t, err)
			assert.Len(t, out, 1, "the outcome delivery is still enqueued")

			// Failing: retried, then accepted.
			rc.setMode("fail")
			startDeliverers(t, st, ob, clinicalsystem.Config{Workers: 2, Timeout: 2 * time.Second, Poll: 5 * time.Millisecond,
				Backoff: store.Backoff{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxAttempts: 100}})
			poll(t, "two failed attempts", func() bool { return len(rc.received()) >= 2 })
			ds = barsDeliveries(t, ob, id)
			assert.NotEqual(t, store.DeliveryDead, ds[0].Status, "a REC_SERVER_ERROR is retried")
			rc.setMode("accept")
			poll(t, "the referral delivered", func() bool { return barsDeliveries(t, ob, id)[0].Status == store.DeliveryDelivered })
			got := rc.received()
			require.GreaterOrEqual(t, len(got), 3)
			assert.Empty(t, rc.refusals, "the receiver found fault with what was sent")
			first := got[0]
			for _, m := range got[1:] {
				assert.Equal(t, first.header.Get("X-Correlation-ID"), m.header.Get("X-Correlation-ID"), "one correlation id per referral")
				assert.NotEqual(t, first.header.Get("X-Request-ID"), m.header.Get("X-Request-ID"), "a request id per request")
				assert.Equal(t, first.headerRes()["id"], m.headerRes()["id"], "a retry is the same message")
			}
			assert.Equal(t, clinicalsystem.CorrelationID(allocation), first.header.Get("X-Correlation-ID"))
			assert.Equal(t, "new", first.reason())
			sr := first.serviceRequest()
			assert.Equal(t, "active", sr["status"])
			assert.Contains(t, fmt.Sprint(sr["identifier"]), allocation, "the ServiceRequest names the allocation")
			assert.Contains(t, fmt.Sprint(sr["category"]), "referral")
			assert.NotNil(t, sr["occurrencePeriod"])
			assert.NotEmpty(t, sr["patientInstruction"], "the safety-netting given")
			types := first.types()
			for _, want := range []string{"MessageHeader", "ServiceRequest", "Patient", "Encounter", "Organization", "Observation", "QuestionnaireResponse"} {
				assert.NotZero(t, types[want], "no %s in the message", want)
			}
			assert.Equal(t, "https://signpost.test/fhir/$process-message", first.headerRes()["source"].(map[string]any)["endpoint"])
			assert.Contains(t, string(first.body), "/CodeSystem/patient-need-group", "the need group Observation")

			// The patient declines: re-navigation revokes the allocation and
			// sends the cancellation first.
			cur := g.as(nav, "GET", "/Task/"+id, "")
			task := cur.json(t)
			task["businessStatus"] = map[string]any{"coding": []any{map[string]any{"system": nvBase + "/CodeSystem/navigation-status", "code": "declined"}}}
			task["statusReason"] = map[string]any{"text": "Would rather see the GP"}
			body, _ := json.Marshal(task)
			up := g.as(nav, "PUT", "/Task/"+id, string(body), "If-Match", cur.header.Get("ETag"))
			require.Equal(t, http.StatusOK, up.status, "%s", up.body)
			res = nvNavigate(t, g, nav, id, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			assert.NotEqual(t, "demo-pharmacy-first", res.destination())
			poll(t, "the cancellation delivered", func() bool {
				ds := barsDeliveries(t, ob, id)
				return len(ds) == 2 && ds[1].Status == store.DeliveryDelivered
			})
			got = rc.received()
			cancel := got[len(got)-1]
			assert.Equal(t, "cancel", cancel.reason())
			assert.Equal(t, "revoked", cancel.serviceRequest()["status"])
			assert.Equal(t, first.header.Get("X-Correlation-ID"), cancel.header.Get("X-Correlation-ID"), "the cancellation is of the same referral")
			assert.NotEqual(t, first.headerRes()["id"], cancel.headerRes()["id"], "a new message")

		})
	}
}

// TestBaRSRefusalIsADeadLetter: a receiver refusing the referral with
// the standard's REC_BAD_REQUEST makes a dead letter at once, listed with
// the code (not the body) for the practice, and sent again by $redeliver.
func TestBaRSRefusalIsADeadLetter(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			ob := st.(store.Outbox)
			g := newNavGateway(t, st, nvOptions{delivery: true})
			rc := newBaRSReceiver(t, [2]string{"https://fhir.nhs.uk/Id/dos-service-id", pfDoSID})
			connectPharmacyFirstBaRS(t, st, rc.URL+"/bars")
			nav := nvNavigator("expert", "Y99999")
			// A refusal: dead letter at once, with the standard's code.
			rc.mu.Lock()
			rc.target[1] = "someone-else" // the receiver does not take this service's referrals
			rc.mu.Unlock()
			id2 := navigateDemo(t, g)
			startDeliverers(t, st, ob, clinicalsystem.Config{Workers: 1, Timeout: 2 * time.Second, Poll: 5 * time.Millisecond,
				Backoff: store.Backoff{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxAttempts: 100}})
			poll(t, "the dead letter", func() bool { return barsDeliveries(t, ob, id2)[0].Status == store.DeliveryDead })
			d := barsDeliveries(t, ob, id2)[0]
			assert.Equal(t, 1, d.Attempts, "a refusal is not retried")
			assert.Contains(t, d.LastError, "HTTP 400 REC_BAD_REQUEST")
			r := g.as(nav, "GET", "/$dead-letters", "")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			assert.Contains(t, string(r.body), "BaRS referral message")
			r = g.as(nav, "GET", "/Task/"+id2+"/$delivery-status", "")
			assert.Contains(t, string(r.body), "REC_BAD_REQUEST")
			rc.mu.Lock()
			rc.target[1] = pfDoSID
			rc.refusals = nil
			rc.mu.Unlock()
			r = g.as(nav, "POST", "/$redeliver", `{"resourceType":"Parameters","parameter":[{"name":"task","valueString":"`+id2+`"}]}`)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			poll(t, "the redelivered referral", func() bool { return barsDeliveries(t, ob, id2)[0].Status == store.DeliveryDelivered })
			assert.Empty(t, rc.refusals)
		})
	}
}

// TestBaRSHangingReceiverIsRetried: a receiver that never answers is a
// timeout, retried, and dead after the attempts run out.
func TestBaRSHangingReceiverIsRetried(t *testing.T) {
	t.Parallel()
	st := stores[0].open(t)
	ob := st.(store.Outbox)
	g := newNavGateway(t, st, nvOptions{delivery: true})
	rc := newBaRSReceiver(t, [2]string{"https://fhir.nhs.uk/Id/dos-service-id", pfDoSID})
	rc.setMode("hang")
	connectPharmacyFirstBaRS(t, st, rc.URL+"/bars")
	id := navigateDemo(t, g)
	startDeliverers(t, st, ob, clinicalsystem.Config{Workers: 1, Timeout: 100 * time.Millisecond, Poll: 5 * time.Millisecond,
		Backoff: store.Backoff{Base: 5 * time.Millisecond, Max: 10 * time.Millisecond, MaxAttempts: 2}})
	poll(t, "the dead letter", func() bool { return barsDeliveries(t, ob, id)[0].Status == store.DeliveryDead })
	d := barsDeliveries(t, ob, id)[0]
	assert.Equal(t, 2, d.Attempts)
	assert.Contains(t, d.LastError, "gave up after 2 attempts")
	assert.Contains(t, d.LastError, "no answer within")
}

// withShareConsent records the patient's answer to sharing their details
// with the service they are referred to.
func withShareConsent(task map[string]any, agreed bool) map[string]any {
	task["input"] = append(listAny(task["input"]), map[string]any{"type": map[string]any{"coding": []any{map[string]any{
		"system": nvBase + "/CodeSystem/navigation-input", "code": "share-consent"}}}, "valueBoolean": agreed})
	return task
}

// TestBaRSReferralConsent: on both stores, over HTTP against the loopback
// receiver, a referral carries the patient's Consent (patient-privacy,
// LOINC 59284-0, permit, the service as recipient) referenced from the
// ServiceRequest when the patient agreed to share; without that
// agreement (declined, or not recorded) nothing leaves for the service,
// the $navigate answer says why, and a later re-navigation sends no
// cancellation of a referral never sent.
func TestBaRSReferralConsent(t *testing.T) {
	t.Parallel()
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			ob := st.(store.Outbox)
			g := newNavGateway(t, st, nvOptions{delivery: true})
			rc := newBaRSReceiver(t, [2]string{"https://fhir.nhs.uk/Id/dos-service-id", pfDoSID})
			connectPharmacyFirstBaRS(t, st, rc.URL+"/bars")
			nav := nvNavigator("expert", "Y99999")
			// Three contacts of the demo adult, about three problems
			// Pharmacy First sees (the same problem again would be a
			// repeat contact, for the practice).
			task := func(problem string) map[string]any {
				return nvTask(nvClinical("phone", problem, 3.0), "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow)
			}

			// Declined: no referral, and the answer says why.
			for name, body := range map[string]map[string]any{"declined": withShareConsent(task("Sore throat"), false)} {
				id := g.created(t, nav, "Task", body)
				res := nvNavigate(t, g, nav, id, nil)
				require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
				require.Equal(t, "demo-pharmacy-first", res.destination(), name)
				assert.Empty(t, barsDeliveries(t, ob, id), "%s: a referral was enqueued", name)
				assert.Contains(t, string(res.raw), "no BaRS referral is sent to the service", name)
				if name == "declined" {
					// Declined, re-navigated: no cancellation either.
					cur := g.as(nav, "GET", "/Task/"+id, "")
					tk := cur.json(t)
					tk["businessStatus"] = map[string]any{"coding": []any{map[string]any{"system": nvBase + "/CodeSystem/navigation-status", "code": "declined"}}}
					up := g.as(nav, "PUT", "/Task/"+id, mustJSON(t, tk), "If-Match", cur.header.Get("ETag"))
					require.Equal(t, http.StatusOK, up.status, "%s", up.body)
					res = nvNavigate(t, g, nav, id, nil)
					require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
					assert.Empty(t, barsDeliveries(t, ob, id), "a cancellation of nothing was enqueued")
				}
			}

			// Not recorded: the referral for the patient's direct care is
			// sent (implied consent), without a Consent.
			silent := g.created(t, nav, "Task", task("Insect bite"))
			res := nvNavigate(t, g, nav, silent, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			require.Equal(t, "demo-pharmacy-first", res.destination())
			assert.NotContains(t, string(res.raw), "no BaRS referral is sent")
			require.Len(t, barsDeliveries(t, ob, silent), 1, "not recorded: the referral is sent")

			// Agreed: the message carries the Consent.
			id := g.created(t, nav, "Task", withShareConsent(task("Earache"), true))
			res = nvNavigate(t, g, nav, id, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			assert.NotContains(t, string(res.raw), "no BaRS referral is sent")
			require.Len(t, barsDeliveries(t, ob, id), 1)
			startDeliverers(t, st, ob, clinicalsystem.Config{Workers: 1, Timeout: 2 * time.Second, Poll: 5 * time.Millisecond,
				Backoff: store.Backoff{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxAttempts: 100}})
			poll(t, "the referral delivered", func() bool { return barsDeliveries(t, ob, id)[0].Status == store.DeliveryDelivered })
			poll(t, "the referral without a recorded agreement delivered", func() bool {
				return barsDeliveries(t, ob, silent)[0].Status == store.DeliveryDelivered
			})
			got := rc.received()
			require.Len(t, got, 2, "the agreed referral and the one without a recorded agreement left; the declined one did not")
			assert.Empty(t, rc.refusals)
			// Only the agreed referral carries a Consent.
			var msg map[string]any
			ci, withConsent := -1, 0
			for i, m := range got {
				var mm map[string]any
				require.NoError(t, json.Unmarshal(m.body, &mm))
				if entryOf(mm, "Consent") != nil {
					ci, msg = i, mm
					withConsent++
				}
			}
			require.Equal(t, 1, withConsent, "only the agreed referral carries a Consent")
			consent := entryOf(msg, "Consent")
			require.NotNil(t, consent, "no Consent in the message")
			assert.Equal(t, "active", consent["status"])
			assert.Contains(t, fmt.Sprint(consent["scope"]), "patient-privacy")
			assert.Contains(t, fmt.Sprint(consent["category"]), "59284-0")
			assert.Equal(t, "permit", consent["provision"].(map[string]any)["type"])
			assert.NotEmpty(t, consent["dateTime"])
			assert.NotEmpty(t, consent["policyRule"])
			patURL := fmt.Sprint(got[ci].serviceRequest()["subject"].(map[string]any)["reference"])
			assert.Equal(t, patURL, consent["patient"].(map[string]any)["reference"])
			assert.Contains(t, fmt.Sprint(got[ci].serviceRequest()["supportingInfo"]), "urn:uuid:"+fmt.Sprint(consent["id"]), "the ServiceRequest cites the Consent")
		})
	}
}
