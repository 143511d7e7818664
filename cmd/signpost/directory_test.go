package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store/sqlite"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/mapping"
)

const nhsFixture = "../../testdata/directory/nhs-service-search-v3.json"

// directoryGateway is a gateway on a fresh embedded store with the
// directory registered.
func directoryGateway(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	srv := gateway.New(gateway.Options{Store: st})
	require.NoError(t, srv.RegisterDirectory(ctx, gateway.DirectoryOptions{}))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL + "/fhir"
}

func runImport(t *testing.T, base, source string, extra ...string) (importSummary, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args := append([]string{"import", "-target", base, "-json"}, extra...)
	err := directoryCmd(context.Background(), append(args, source), func(string) string { return "" }, &stdout, &stderr)
	var sum importSummary
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &sum), "stdout: %s; stderr: %s", stdout.String(), stderr.String())
	assert.Empty(t, stderr.String(), "no progress bar when stderr is not a terminal")
	return sum, err
}

// v3 is the fixture as a test reads it: plain maps, independent of the
// importer's own types.
type v3Org map[string]any

func readV3(t *testing.T, path string) []v3Org {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc struct{ Value []v3Org }
	require.NoError(t, json.Unmarshal(data, &doc))
	return doc.Value
}

func getJSON(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var out map[string]any
	require.NoError(t, json.Unmarshal(body, &out))
	return out
}

// service reads the HealthcareService imported under an identifier value.
func service(t *testing.T, base, value string) map[string]any {
	t.Helper()
	sys := mapping.NewDirectory("").NHSServiceSearchSystem()
	b := getJSON(t, base+"/HealthcareService?identifier="+url.QueryEscape(sys+"|"+value))
	require.EqualValues(t, 1, b["total"], "HealthcareService %s", value)
	return b["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func asStr(v any) string { s, _ := v.(string); return s }

// weekly are the (day, open, close) sessions of the fixture's weekly rows
// that are imported: General rows, else Surgery rows.
func weeklyOf(rows []any) []string {
	types := map[string]bool{}
	for _, r := range rows {
		types[asStr(asMap(r)["OpeningTimeType"])] = true
	}
	use := "General"
	if !types["General"] {
		use = "Surgery"
	}
	var out []string
	for _, r := range rows {
		m := asMap(r)
		if m["OpeningTimeType"] != use || m["IsOpen"] != true {
			continue
		}
		out = append(out, strings.ToLower(asStr(m["Weekday"]))[:3]+" "+asStr(m["OpeningTime"])+"-"+asStr(m["ClosingTime"]))
	}
	sort.Strings(out)
	return out
}

// specialOf are the Additional rows: "2026-12-28 10:00-14:00" or
// "2026-12-25 closed".
func specialOf(rows []any) []string {
	var out []string
	for _, r := range rows {
		m := asMap(r)
		if m["OpeningTimeType"] != "Additional" {
			continue
		}
		d, err := time.Parse("Jan 2 2006", strings.Join(strings.Fields(asStr(m["AdditionalOpeningDate"])), " "))
		if err != nil {
			panic(err)
		}
		if m["IsOpen"] == true {
			out = append(out, d.Format("2006-01-02")+" "+asStr(m["OpeningTime"])+"-"+asStr(m["ClosingTime"]))
		} else {
			out = append(out, d.Format("2006-01-02")+" closed")
		}
	}
	sort.Strings(out)
	return out
}

// The same, read back from a HealthcareService.
func weeklyFHIR(hs map[string]any) []string {
	var out []string
	for _, a := range fhir.List(hs["availableTime"]) {
		m := asMap(a)
		for _, d := range fhir.List(m["daysOfWeek"]) {
			out = append(out, asStr(d)+" "+asStr(m["availableStartTime"])[:5]+"-"+asStr(m["availableEndTime"])[:5])
		}
	}
	sort.Strings(out)
	return out
}

func specialFHIR(t *testing.T, hs map[string]any) []string {
	london, err := time.LoadLocation("Europe/London")
	require.NoError(t, err)
	var out []string
	for _, e := range fhir.List(hs["extension"]) {
		m := asMap(e)
		if !strings.HasSuffix(asStr(m["url"]), "/directory-special-opening") {
			continue
		}
		p := asMap(m["valuePeriod"])
		start, err := time.Parse(time.RFC3339, asStr(p["start"]))
		require.NoError(t, err)
		end, err := time.Parse(time.RFC3339, asStr(p["end"]))
		require.NoError(t, err)
		out = append(out, start.In(london).Format("2006-01-02 15:04")+"-"+end.In(london).Format("15:04"))
	}
	for _, n := range fhir.List(hs["notAvailable"]) {
		d := asMap(asMap(n)["during"])
		require.Equal(t, d["start"], d["end"], "a closed date is one whole day")
		out = append(out, asStr(d["start"])+" closed")
	}
	sort.Strings(out)
	return out
}

var telecomSystems = map[string]string{"Telephone": "phone", "Email": "email", "Website": "url", "Fax": "fax"}

func contactsOf(contacts []any, website string) []string {
	var out []string
	haveURL := false
	for _, c := range contacts {
		m := asMap(c)
		if v := asStr(m["ContactValue"]); v != "" {
			sys := telecomSystems[asStr(m["ContactMethodType"])]
			haveURL = haveURL || sys == "url"
			rank := "2"
			if m["ContactType"] == "Primary" {
				rank = "1"
			}
			out = append(out, sys+" "+v+" rank "+rank)
		}
	}
	if website != "" && !haveURL {
		out = append(out, "url "+website+" rank 1")
	}
	sort.Strings(out)
	return out
}

func contactsFHIR(hs map[string]any) []string {
	var out []string
	for _, c := range fhir.List(hs["telecom"]) {
		m := asMap(c)
		out = append(out, fmt.Sprintf("%s %s rank %v", m["system"], m["value"], m["rank"]))
	}
	sort.Strings(out)
	return out
}

// ageFHIR is the age range of a HealthcareService in days, "from-to".
func ageFHIR(t *testing.T, hs map[string]any) string {
	for _, el := range fhir.List(hs["eligibility"]) {
		for _, e := range fhir.List(asMap(el)["extension"]) {
			for _, part := range fhir.List(asMap(e)["extension"]) {
				p := asMap(part)
				if p["url"] != "age" {
					continue
				}
				r := asMap(p["valueRange"])
				bound := func(k string) string {
					q := asMap(r[k])
					if q == nil {
						return "open"
					}
					require.Equal(t, "d", q["code"])
					return fmt.Sprint(q["value"])
				}
				return bound("low") + "-" + bound("high")
			}
		}
	}
	return "none"
}

func ageOf(ranges []any) string {
	if len(ranges) == 0 {
		return "none"
	}
	r := asMap(ranges[0])
	b := func(k string) string {
		if r[k] == nil {
			return "open"
		}
		return fmt.Sprint(r[k])
	}
	return b("FromAgeDays") + "-" + b("ToAgeDays")
}

// TestDirectoryImportRoundTrip imports the Service Search v3 fixture into
// a gateway and reads every organisation and service back: opening
// times, bank holiday dates, age ranges and contacts are what the file
// says.
func TestDirectoryImportRoundTrip(t *testing.T) {
	base := directoryGateway(t)
	sum, err := runImport(t, base, nhsFixture)
	require.NoError(t, err)
	assert.Equal(t, importSummary{Organisations: 5, Entries: 19, Created: 19, Rejected: []rejectedEntry{}, Warnings: []string{}}, sum)

	for _, org := range readV3(t, nhsFixture) {
		ods := asStr(org["ODSCode"])
		t.Run(ods, func(t *testing.T) {
			hs := service(t, base, ods)
			rows := fhir.List(org["OpeningTimes"])
			assert.Equal(t, weeklyOf(rows), weeklyFHIR(hs), "weekly opening times")
			assert.Equal(t, specialOf(rows), specialFHIR(t, hs), "additional opening dates")
			assert.Equal(t, contactsOf(fhir.List(org["Contacts"]), asStr(org["URL"])), contactsFHIR(hs), "contacts")
			assert.Equal(t, org["OrganisationName"], hs["name"])
			assert.Equal(t, org["OrganisationStatus"] == "Visible", hs["active"])
			for _, sv := range fhir.List(org["Services"]) {
				s := asMap(sv)
				code := asStr(s["ServiceCode"])
				got := service(t, base, ods+"/"+code)
				svRows := fhir.List(s["OpeningTimes"])
				if len(svRows) == 0 {
					svRows = rows // a service without its own times has the organisation's
				}
				assert.Equal(t, weeklyOf(svRows), weeklyFHIR(got), "%s weekly opening times", code)
				assert.Equal(t, specialOf(svRows), specialFHIR(t, got), "%s additional opening dates", code)
				contacts := fhir.List(s["Contacts"])
				if len(contacts) == 0 {
					contacts = fhir.List(org["Contacts"])
				}
				assert.Equal(t, contactsOf(contacts, asStr(org["URL"])), contactsFHIR(got), "%s contacts", code)
				assert.Equal(t, ageOf(fhir.List(s["AgeRange"])), ageFHIR(t, got), "%s age range", code)
			}
			// The Location carries the address and the point.
			loc := getJSON(t, base+"/Location?identifier="+url.QueryEscape(mapping.NewDirectory("").NHSServiceSearchLocationSystem()+"|"+ods))
			require.EqualValues(t, 1, loc["total"])
			l := asMap(fhir.List(loc["entry"])[0])["resource"].(map[string]any)
			assert.Equal(t, org["Postcode"], asMap(l["address"])["postalCode"])
			if g := asMap(org["Geocode"]); g != nil {
				c := fhir.List(g["coordinates"])
				assert.Equal(t, c[0], asMap(l["position"])["longitude"])
				assert.Equal(t, c[1], asMap(l["position"])["latitude"])
			}
			// providedBy resolved to the imported Organization.
			ref := asStr(asMap(hs["providedBy"])["reference"])
			require.True(t, strings.HasPrefix(ref, "Organization/"), ref)
			o := getJSON(t, base+"/"+ref)
			assert.Equal(t, ods, asStr(asMap(fhir.List(o["identifier"])[0])["value"]))
		})
	}

	t.Run("re-import changes nothing", func(t *testing.T) {
		sum, err := runImport(t, base, nhsFixture)
		require.NoError(t, err)
		assert.Equal(t, 19, sum.Unchanged, "%+v", sum)
		assert.Zero(t, sum.Created+sum.Updated)
	})
}

// TestDirectoryImportRejects: an organisation whose data is older than
// what the gateway holds is refused entry by entry, with the gateway's
// reason, while the rest of the file is stored.
func TestDirectoryImportRejects(t *testing.T) {
	base := directoryGateway(t)
	_, err := runImport(t, base, nhsFixture)
	require.NoError(t, err)

	data, err := os.ReadFile(nhsFixture)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(data, &doc))
	orgs := fhir.List(doc["value"])
	stale := asMap(orgs[0]) // the pharmacy: 3 HealthcareServices
	stale["OrganisationName"] = "Headingley Pharmacy (old name)"
	for k := range asMap(stale["LastUpdatedDates"]) {
		asMap(stale["LastUpdatedDates"])[k] = "2020-01-01T00:00:00Z"
	}
	fresh := asMap(orgs[1]) // the GP practice: a newer entry
	fresh["OrganisationName"] = "Hyde Park Surgery and Branch"
	asMap(fresh["LastUpdatedDates"])["ContactDetails"] = "2026-11-20T09:00:00Z"
	path := filepath.Join(t.TempDir(), "changed.json")
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))

	sum, err := runImport(t, base, path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "3 of 19 entries rejected")
	require.Len(t, sum.Rejected, 3, "%+v", sum)
	for _, r := range sum.Rejected {
		assert.True(t, strings.HasPrefix(r.Entry, "HealthcareService?identifier="), r.Entry)
		assert.Contains(t, r.Entry, "FQ123")
		assert.Equal(t, "409 Conflict", r.Status)
		assert.Contains(t, r.Reason, "older")
	}
	assert.Equal(t, "Hyde Park Surgery and Branch", service(t, base, "B86001")["name"])
	assert.Equal(t, "Headingley Pharmacy", service(t, base, "FQ123")["name"])
}

func TestDirectoryImportUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"export", "x.json"},
		{"import"},
		{"import", "-target", "ftp://x/fhir", "x.json"},
		{"import", "-batch", "0", "x.json"},
		{"import", "a.json", "b.json"},
	} {
		err := directoryCmd(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
		assert.ErrorIs(t, err, errUsage, "%q", args)
	}
	err := directoryCmd(context.Background(), []string{"import", filepath.Join(t.TempDir(), "missing.json")}, func(string) string { return "" }, io.Discard, io.Discard)
	require.Error(t, err)
	assert.NotErrorIs(t, err, errUsage)
}

// TestDirectoryImportFromURL reads the organisations from a Service Search
// URL, sending the subscription key.
func TestDirectoryImportFromURL(t *testing.T) {
	data, err := os.ReadFile(nhsFixture)
	require.NoError(t, err)
	var gotKey string
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotKey = r.Header.Get("subscription-key")
		w.Header().Set("Content-Type", "application/json")
		w.Write(data)
	}))
	t.Cleanup(src.Close)
	base := directoryGateway(t)
	var stdout bytes.Buffer
	err = directoryCmd(context.Background(), []string{"import", "-target", base, src.URL + "/service-search-api/organisations"},
		func(k string) string {
			if k == "NHS_SERVICE_SEARCH_KEY" {
				return "k-123"
			}
			return ""
		}, &stdout, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "k-123", gotKey)
	assert.Contains(t, stdout.String(), "5 organisations, 19 entries: 19 created, 0 updated, 0 unchanged, 0 rejected")
}

// TestDirectoryImportSmallBatches: many transactions in flight at once
// (organisations are never split across them) add up to the same result.
func TestDirectoryImportSmallBatches(t *testing.T) {
	base := directoryGateway(t)
	sum, err := runImport(t, base, nhsFixture, "-batch", "4", "-parallel", "3")
	require.NoError(t, err)
	assert.Equal(t, 19, sum.Created, "%+v", sum)
	sum, err = runImport(t, base, nhsFixture, "-batch", "1", "-parallel", "4")
	require.NoError(t, err)
	assert.Equal(t, 19, sum.Unchanged, "%+v", sum)
}
