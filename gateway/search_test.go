package gateway_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// directory is a small care navigation world: two practices, three
// patients, two services, two referrals and four navigation Tasks.
var directory = []string{
	`{"resourceType":"Organization","id":"org-a","name":"Practice A"}`,
	`{"resourceType":"Organization","id":"org-b","name":"Practice B"}`,
	`{"resourceType":"Patient","id":"pat-1","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],"name":[{"family":"Smith","given":["Zoë"]}],"birthDate":"1980-05-01"}`,
	`{"resourceType":"Patient","id":"pat-2","identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000017"}],"name":[{"family":"Smithson","given":["Ann"]}],"birthDate":"1975-01-20"}`,
	`{"resourceType":"Patient","id":"pat-3","name":[{"family":"Jones"}]}`,
	`{"resourceType":"HealthcareService","id":"hs-1","name":"Talking Therapies","providedBy":{"reference":"Organization/org-a"}}`,
	`{"resourceType":"HealthcareService","id":"hs-2","name":"Debt Advice"}`,
	`{"resourceType":"ServiceRequest","id":"sr-1","status":"active","intent":"order","subject":{"reference":"Patient/pat-1"},"performer":[{"reference":"HealthcareService/hs-1"}]}`,
	`{"resourceType":"ServiceRequest","id":"sr-2","status":"draft","intent":"order","subject":{"reference":"Patient/pat-2"},"performer":[{"reference":"HealthcareService/hs-2"}]}`,
	`{"resourceType":"Task","id":"task-1","status":"requested","intent":"order","identifier":[{"system":"https://signpost.example/task","value":"t1"}],
	  "code":{"coding":[{"system":"https://signpost.example/fhir/CodeSystem/navigation-task","code":"navigate"}]},
	  "for":{"reference":"Patient/pat-1"},"owner":{"reference":"Organization/org-a"},"basedOn":[{"reference":"ServiceRequest/sr-1"}],
	  "authoredOn":"2026-01-10T09:00:00Z","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Navigate</div>"},
	  "input":[{"type":{"text":"duration"},"valueDecimal":1.50}]}`,
	`{"resourceType":"Task","id":"task-2","status":"requested","intent":"order","for":{"reference":"Patient/pat-2"},"owner":{"reference":"Organization/org-a"},"basedOn":[{"reference":"ServiceRequest/sr-2"}],"authoredOn":"2026-02-10T09:00:00Z"}`,
	`{"resourceType":"Task","id":"task-3","status":"accepted","intent":"order","for":{"reference":"Patient/pat-1"},"owner":{"reference":"Organization/org-b"},"authoredOn":"2025-12-01T12:00:00Z"}`,
	`{"resourceType":"Task","id":"task-4","status":"requested","intent":"order","owner":{"reference":"Organization/org-b"},"authoredOn":"2026-03-01T08:00:00Z"}`,
}

func (g *testGateway) load(t *testing.T, resources []string) {
	t.Helper()
	for _, body := range resources {
		obj := mustDecode(t, body)
		r := g.do("PUT", fmt.Sprintf("/%s/%s", obj["resourceType"], obj["id"]), body)
		require.Contains(t, []int{200, 201}, r.status, "%s", r.body)
	}
}

// entryIDs lists the ids of a searchset's entries of one mode.
func entryIDs(t *testing.T, bundle map[string]any, mode string) []string {
	t.Helper()
	var ids []string
	entries, _ := bundle["entry"].([]any)
	for _, e := range entries {
		m := e.(map[string]any)
		if m["search"].(map[string]any)["mode"] != mode {
			continue
		}
		res := m["resource"].(map[string]any)
		ids = append(ids, res["id"].(string))
		assert.True(t, strings.HasSuffix(m["fullUrl"].(string), "/"+res["resourceType"].(string)+"/"+res["id"].(string)), "fullUrl %v", m["fullUrl"])
	}
	return ids
}

func sorted(ids []string) []string {
	out := append([]string{}, ids...)
	sort.Strings(out)
	return out
}

func TestSearchParameters(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		g.load(t, directory)
		tests := []struct {
			query string
			want  []string
		}{
			{"Task?status=requested", []string{"task-1", "task-2", "task-4"}},
			{"Task?status:not=requested", []string{"task-3"}},
			{"Task?status=requested,accepted&owner=Organization/org-b", []string{"task-3", "task-4"}},
			{"Task?owner=Organization/org-a", []string{"task-1", "task-2"}},
			{"Task?owner=org-a", []string{"task-1", "task-2"}},
			{"Task?owner:Organization=org-b", []string{"task-3", "task-4"}},
			{"Task?owner=" + url.QueryEscape("http://elsewhere.example/fhir/Organization/org-a"), nil},
			{"Task?status=requested&owner=Organization/org-a", []string{"task-1", "task-2"}},
			{"Task?authored-on=ge2026-01-01", []string{"task-1", "task-2", "task-4"}},
			{"Task?authored-on=2026-02", []string{"task-2"}},
			{"Task?authored-on=lt2026-01-01", []string{"task-3"}},
			{"Task?authored-on=ge2026-01-01&authored-on=lt2026-03-01", []string{"task-1", "task-2"}},
			{"Task?patient=Patient/pat-1", []string{"task-1", "task-3"}},
			{"Task?patient.identifier=" + url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|9000000009"), []string{"task-1", "task-3"}},
			{"Task?subject:missing=true", []string{"task-4"}},
			{"Task?code=" + url.QueryEscape("https://signpost.example/fhir/CodeSystem/navigation-task|navigate"), []string{"task-1"}},
			{"Task?identifier=" + url.QueryEscape("https://signpost.example/task|t1"), []string{"task-1"}},
			{"Task?_id=task-1,task-3", []string{"task-1", "task-3"}},
			{"Task?_lastUpdated=gt2000-01-01", []string{"task-1", "task-2", "task-3", "task-4"}},
			{"Patient?name=smi", []string{"pat-1", "pat-2"}},
			{"Patient?family:exact=Smith", []string{"pat-1"}},
			{"Patient?name:contains=ITHS", []string{"pat-2"}},
			{"Patient?given=zoe", []string{"pat-1"}},
			{"Patient?birthdate:missing=true", []string{"pat-3"}},
			{"Patient?identifier=" + url.QueryEscape("https://fhir.nhs.uk/Id/nhs-number|9000000017"), []string{"pat-2"}},
			{"Patient?identifier=" + url.QueryEscape("|9000000017"), nil},
			{"ServiceRequest?performer:HealthcareService.name=talking", []string{"sr-1"}},
			{"HealthcareService?_has:ServiceRequest:performer:status=active", []string{"hs-1"}},
		}
		for _, tt := range tests {
			t.Run(tt.query, func(t *testing.T) {
				r := g.do("GET", "/"+tt.query, "")
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				b := r.json(t)
				assert.Equal(t, "searchset", b["type"])
				assert.Equal(t, sorted(tt.want), sorted(entryIDs(t, b, "match")))
				assert.EqualValues(t, fmt.Sprint(len(tt.want)), fmt.Sprint(b["total"]))
			})
		}
	})
}

func TestSearchSortCountAndTotal(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		g.load(t, directory)
		b := g.do("GET", "/Task?_sort=-authored-on", "").json(t)
		assert.Equal(t, []string{"task-4", "task-2", "task-1", "task-3"}, entryIDs(t, b, "match"))
		b = g.do("GET", "/Task?status=requested&_sort=authored-on", "").json(t)
		assert.Equal(t, []string{"task-1", "task-2", "task-4"}, entryIDs(t, b, "match"))

		b = g.do("GET", "/Task?_total=none", "").json(t)
		assert.NotContains(t, b, "total")
		assert.Len(t, entryIDs(t, b, "match"), 4)

		b = g.do("GET", "/Task?_summary=count", "").json(t)
		assert.EqualValues(t, "4", fmt.Sprint(b["total"]))
		assert.NotContains(t, b, "entry")

		b = g.do("GET", "/Task?_count=0", "").json(t)
		assert.EqualValues(t, "4", fmt.Sprint(b["total"]))
		assert.NotContains(t, b, "entry")

		b = g.do("GET", "/Task?_count=100000", "").json(t)
		assert.Contains(t, link(b, "self"), "_count=1000", "the cap shows in the self link")
	})
}

func TestSearchStrictAndLenientHandling(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		g.load(t, directory)
		r := g.do("GET", "/Task?status=requested&colour=blue&owner=", "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		b := r.json(t)
		assert.Len(t, entryIDs(t, b, "match"), 3)
		self := link(b, "self")
		assert.Contains(t, self, "status=requested")
		assert.NotContains(t, self, "colour")
		assert.NotContains(t, self, "owner")
		var warned bool
		for _, e := range b["entry"].([]any) {
			m := e.(map[string]any)
			if m["search"].(map[string]any)["mode"] == "outcome" {
				warned = strings.Contains(fmt.Sprint(m["resource"]), "colour")
			}
		}
		assert.True(t, warned, "an outcome entry names the ignored parameter")

		r = g.do("GET", "/Task?status=requested&colour=blue", "", "Prefer", "handling=strict")
		assert.Equal(t, http.StatusBadRequest, r.status)
		assert.Contains(t, fmt.Sprint(r.outcome(t)["diagnostics"]), "colour")

		for _, bad := range []string{"/Task?authored-on=yesterday", "/Task?status:exact=x", "/Task?_count=-1", "/Task?_sort=colour"} {
			r := g.do("GET", bad, "")
			assert.Equal(t, http.StatusBadRequest, r.status, bad)
			r.outcome(t)
		}
		assert.Equal(t, http.StatusMethodNotAllowed, g.do("GET", "/Task/_search", "").status)
		assert.Equal(t, http.StatusBadRequest, g.do("GET", "?_type=Task,Nothing", "").status)
	})
}

func TestPostSearchEqualsGet(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		g.load(t, directory)
		get := g.do("GET", "/Task?status=requested&owner=Organization%2Forg-a&_sort=authored-on", "").json(t)
		for _, tt := range []struct{ query, form string }{
			{"", "status=requested&owner=Organization%2Forg-a&_sort=authored-on"},
			{"?status=requested", "owner=Organization%2Forg-a&_sort=authored-on"},
		} {
			r := g.do("POST", "/Task/_search"+tt.query, tt.form, "Content-Type", "application/x-www-form-urlencoded")
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			post := r.json(t)
			assert.Equal(t, entryIDs(t, get, "match"), entryIDs(t, post, "match"))
			assert.Equal(t, get["total"], post["total"])
			assert.Equal(t, link(get, "self"), link(post, "self"), "the self link of a POST search is the GET that gives the same answer")
		}
		r := g.do("POST", "/Task/_search", `{"status":"requested"}`)
		assert.Equal(t, http.StatusUnsupportedMediaType, r.status)
	})
}

func TestSearchSummaryAndElements(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		g.load(t, directory)
		subsetted := func(t *testing.T, res map[string]any) bool {
			meta, _ := res["meta"].(map[string]any)
			tags, _ := meta["tag"].([]any)
			for _, tag := range tags {
				if tag.(map[string]any)["code"] == "SUBSETTED" {
					return true
				}
			}
			return false
		}
		one := func(t *testing.T, query string) map[string]any {
			b := g.do("GET", query, "").json(t)
			require.Len(t, b["entry"], 1, "%v", b)
			return b["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
		}

		full := one(t, "/Task?_id=task-1")
		assert.False(t, subsetted(t, full))
		assert.Contains(t, full, "input")

		sum := one(t, "/Task?_id=task-1&_summary=true")
		assert.True(t, subsetted(t, sum))
		for _, kept := range []string{"id", "meta", "status", "intent", "code", "for", "owner", "basedOn"} {
			assert.Contains(t, sum, kept)
		}
		for _, dropped := range []string{"text", "input", "authoredOn", "identifier"} {
			assert.NotContains(t, sum, dropped, "Task.%s is not a summary element in R4", dropped)
		}

		text := one(t, "/Task?_id=task-1&_summary=text")
		assert.True(t, subsetted(t, text))
		assert.Contains(t, text, "text")
		assert.Contains(t, text, "status", "mandatory")
		assert.NotContains(t, text, "owner")

		data := one(t, "/Task?_id=task-1&_summary=data")
		assert.True(t, subsetted(t, data))
		assert.NotContains(t, data, "text")
		assert.Contains(t, data, "input")

		el := one(t, "/Task?_id=task-1&_elements=owner,input")
		assert.True(t, subsetted(t, el))
		assert.Equal(t, []string{"id", "input", "intent", "meta", "owner", "resourceType", "status"}, keys(el))
		decimal := g.do("GET", "/Task?_id=task-1&_elements=input", "")
		assert.Contains(t, string(decimal.body), `"valueDecimal":1.50`, "subsetting keeps decimal text")

		assert.Equal(t, http.StatusBadRequest, g.do("GET", "/Task?_summary=true&_elements=owner", "").status)

		// Qualified names reach included resources; unqualified ones only
		// the matches.
		b := g.do("GET", "/Task?_id=task-1&_include=Task:based-on&_elements=owner,ServiceRequest.status", "").json(t)
		for _, e := range b["entry"].([]any) {
			res := e.(map[string]any)["resource"].(map[string]any)
			if res["resourceType"] == "ServiceRequest" {
				assert.NotContains(t, res, "performer")
				assert.Contains(t, res, "status")
				assert.True(t, subsetted(t, res))
			}
		}
	})
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestSearchIncludeAndRevinclude(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		g.load(t, directory)
		b := g.do("GET", "/Task?_id=task-1&_include=Task:based-on&_include:iterate=ServiceRequest:performer", "").json(t)
		assert.Equal(t, []string{"task-1"}, entryIDs(t, b, "match"))
		assert.Equal(t, []string{"hs-1", "sr-1"}, sorted(entryIDs(t, b, "include")))
		assert.EqualValues(t, "1", fmt.Sprint(b["total"]), "includes are not counted")

		b = g.do("GET", "/Task?_id=task-1&_include=Task:based-on", "").json(t)
		assert.Equal(t, []string{"sr-1"}, entryIDs(t, b, "include"), "without :iterate one level only")

		b = g.do("GET", "/HealthcareService?_id=hs-1&_revinclude=ServiceRequest:performer&_revinclude:iterate=Task:based-on", "").json(t)
		assert.Equal(t, []string{"hs-1"}, entryIDs(t, b, "match"))
		assert.Equal(t, []string{"sr-1", "task-1"}, sorted(entryIDs(t, b, "include")))

		b = g.do("GET", "/Task?owner=Organization/org-a&_include=Task:patient", "").json(t)
		assert.Equal(t, []string{"pat-1", "pat-2"}, sorted(entryIDs(t, b, "include")))
	})
}

// TestSearchPagingWhileWriting follows next links while another client
// keeps writing: every resource that existed before the first page is
// seen exactly once, and previous leads back to what was seen.
func TestSearchPagingWhileWriting(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		before := map[string]bool{}
		for i := 0; i < 25; i++ {
			r := g.do("POST", "/Flag", fmt.Sprintf(`{"resourceType":"Flag","status":"active","code":{"text":"flag %d"},"subject":{"reference":"Patient/p"}}`, i))
			require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
			before[r.json(t)["id"].(string)] = true
		}
		for _, query := range []string{"/Flag?status=active&_count=7", "/Flag?status=active&_count=7&_sort=_id"} {
			t.Run(query, func(t *testing.T) {
				stop := make(chan struct{})
				var wg sync.WaitGroup
				var written atomic.Int64
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						resp, err := http.Post(g.base+"/Flag", "application/fhir+json", strings.NewReader(`{"resourceType":"Flag","status":"active","code":{"text":"late"},"subject":{"reference":"Patient/p"}}`))
						if err == nil {
							resp.Body.Close()
							written.Add(1)
						}
					}
				}()
				seen := map[string]int{}
				var pages []map[string]any
				next := query
				for next != "" && len(pages) < 100 {
					r := g.do("GET", next, "")
					require.Equal(t, http.StatusOK, r.status, "%s", r.body)
					b := r.json(t)
					pages = append(pages, b)
					for _, id := range entryIDs(t, b, "match") {
						seen[id]++
					}
					next = link(b, "next")
				}
				close(stop)
				wg.Wait()
				assert.Positive(t, written.Load(), "the writer wrote while paging")
				for id := range before {
					assert.Equal(t, 1, seen[id], "%s seen %d times", id, seen[id])
				}
				for id, n := range seen {
					assert.Equal(t, 1, n, "%s repeated across pages", id)
				}
				if !strings.Contains(query, "_sort") && len(pages) > 1 {
					prev := link(pages[1], "previous")
					require.NotEmpty(t, prev)
					back := g.do("GET", prev, "").json(t)
					assert.Equal(t, entryIDs(t, pages[0], "match"), entryIDs(t, back, "match"), "previous of page 2 is page 1")
				}
			})
		}
	})
}
