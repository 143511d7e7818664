package gateway_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pagingSystem is the identifier system of the Patients the paging tests
// make.
const pagingSystem = "https://example.org/paging"

func pagingPatient(family string, n int) string {
	return fmt.Sprintf(`{"resourceType":"Patient","identifier":[{"system":%q,"value":"%d"}],"name":[{"family":%q}]}`, pagingSystem, n, family)
}

// pageThrough reads the first page of query, runs between (the writes of
// others), then follows the next links to the end. It returns the ids of
// every page's matches, in order, and each page's total.
func pageThrough(t *testing.T, get func(path string) reply, query string, between func()) (ids []string, totals []any) {
	ids, totals, _ = pageThroughTo(t, get, query, between)
	return ids, totals
}

// pageThroughTo is pageThrough that also returns the last page.
func pageThroughTo(t *testing.T, get func(path string) reply, query string, between func()) (ids []string, totals []any, last map[string]any) {
	t.Helper()
	r := get(query)
	for page := 0; ; page++ {
		require.Equal(t, http.StatusOK, r.status, "page %d: %s", page, r.body)
		b := r.json(t)
		ids = append(ids, entryIDs(t, b, "match")...)
		totals = append(totals, b["total"])
		if page == 0 && between != nil {
			between()
		}
		next := link(b, "next")
		if next == "" {
			return ids, totals, b
		}
		require.Less(t, page, 50, "paging does not end")
		r = get(next)
	}
}

// once reports the ids that are missing from got, or in it more than once.
func once(want, got []string) (missing, repeated []string) {
	seen := map[string]int{}
	for _, id := range got {
		seen[id]++
	}
	for _, id := range want {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range seen {
		if n > 1 {
			repeated = append(repeated, id)
		}
	}
	return missing, repeated
}

// TestPagingIsExactWhileOthersWrite: every resource that matched when the
// first page was read is on exactly one page, whatever is updated, renamed
// or created between pages, in the default order (newest first, where an
// update moves a resource to the front) and under _sort=family (where a
// rename moves it), and each page's total is the first page's.
func TestPagingIsExactWhileOthersWrite(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		families := []string{"Fa", "Fb", "Fc", "Fd", "Fe", "Ff"}
		ids := make([]string, len(families))
		for i, f := range families {
			r := g.do("POST", "/Patient", pagingPatient(f, i))
			require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
			ids[i] = r.json(t)["id"].(string)
		}
		put := func(i int, family string) {
			body := strings.Replace(pagingPatient(family, i), `{"resourceType":"Patient",`, `{"resourceType":"Patient","id":"`+ids[i]+`",`, 1)
			r := g.do("PUT", "/Patient/"+ids[i], body)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		}
		get := func(path string) reply { return g.do("GET", path, "") }
		base := "/Patient?identifier=" + pagingSystem + "|&_count=2"

		t.Run("default order", func(t *testing.T) {
			got, totals := pageThrough(t, get, base, func() {
				// The oldest, not yet read: its update would move it
				// before the cursor, to the front.
				put(0, "Fa2")
				// One already read moves to the front too.
				put(5, "Ff2")
				r := g.do("POST", "/Patient", pagingPatient("Fg", 6))
				require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
			})
			missing, repeated := once(ids, got)
			assert.Empty(t, missing, "skipped: %v", got)
			assert.Empty(t, repeated, "repeated: %v", got)
			for i, n := range totals {
				assert.Equal(t, "6", fmt.Sprint(n), "page %d's total", i)
			}
		})

		t.Run("sort by family", func(t *testing.T) {
			got, totals, last := pageThroughTo(t, get, base+"&_sort=family", func() {
				put(0, "Fz")  // read on page 1; renamed to the end
				put(4, "F0")  // not yet read; renamed to the front
				put(2, "Fcc") // not yet read; stays where it was
			})
			missing, repeated := once(ids, got)
			assert.Empty(t, missing, "skipped: %v", got)
			assert.Empty(t, repeated, "repeated: %v", got)
			assert.Equal(t, ids[:2], got[:2])
			for i, n := range totals {
				assert.Equal(t, "7", fmt.Sprint(n), "page %d's total", i)
			}

			// Back from the last page by the previous links: the same
			// resources in the same order, the snapshot kept.
			put(1, "Fbb")
			back := slices.Clone(entryIDs(t, last, "match"))
			for prev := link(last, "previous"); prev != ""; {
				r := get(prev)
				require.Equal(t, http.StatusOK, r.status, "%s", r.body)
				b := r.json(t)
				back = append(entryIDs(t, b, "match"), back...)
				prev = link(b, "previous")
			}
			assert.Equal(t, got, back, "previous pages")
		})

		t.Run("deleted between pages", func(t *testing.T) {
			var deleted string
			got, _ := pageThrough(t, get, base+"&_sort=family", func() {
				deleted = ids[3]
				require.Equal(t, http.StatusNoContent, g.do("DELETE", "/Patient/"+deleted, "").status)
				put(1, "Fy")
			})
			assert.NotContains(t, got, deleted, "a resource deleted since the first page is not served")
			want := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == deleted })
			missing, repeated := once(want, got)
			assert.Empty(t, missing, "skipped: %v", got)
			assert.Empty(t, repeated, "repeated: %v", got)
		})
	})
}

// TestSnapshotPagingKeepsTenancy: later pages of a restricted caller's
// search hold only its practice's resources, whatever others write between
// pages, and its totals stay its own.
func TestSnapshotPagingKeepsTenancy(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		navA, navB := s.token(navigator(odsA)), s.token(navigator(odsB))
		var idsA, idsB []string
		for i := range 4 {
			idsA = append(idsA, s.created(t, navA, "Patient", pagingPatient(fmt.Sprintf("A%d", i), i)))
		}
		for i := range 3 {
			idsB = append(idsB, s.created(t, navB, "Patient", pagingPatient(fmt.Sprintf("B%d", i), 10+i)))
		}
		put := func(tok, id string, family string, n int) {
			body := strings.Replace(pagingPatient(family, n), `{"resourceType":"Patient",`, `{"resourceType":"Patient","id":"`+id+`",`, 1)
			r := s.as(tok, "PUT", "/Patient/"+id, body)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		}
		var nextA string
		got, totals := pageThrough(t, func(path string) reply { return s.as(navA, "GET", path, "") }, "/Patient?identifier="+pagingSystem+"|&_count=1", func() {
			put(navA, idsA[0], "A0x", 0) // A's oldest moves to the front
			put(navB, idsB[0], "B0x", 10)
			put(navB, idsB[2], "B2x", 12)
			s.created(t, navB, "Patient", pagingPatient("B3", 13))
		})
		missing, repeated := once(idsA, got)
		assert.Empty(t, missing, "skipped: %v", got)
		assert.Empty(t, repeated, "repeated: %v", got)
		for _, id := range idsB {
			assert.NotContains(t, got, id, "another practice's resource")
		}
		for i, n := range totals {
			assert.Equal(t, "4", fmt.Sprint(n), "page %d's total", i)
		}

		// Practice B following A's link sees B's resources only.
		first := s.as(navA, "GET", "/Patient?identifier="+pagingSystem+"|&_count=1", "")
		require.Equal(t, http.StatusOK, first.status)
		nextA = link(first.json(t), "next")
		require.NotEmpty(t, nextA)
		put(navA, idsA[1], "A1x", 1)
		r := s.as(navB, "GET", nextA, "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		for _, id := range entryIDs(t, r.json(t), "match") {
			assert.NotContains(t, idsA, id, "practice A's resource reached practice B through a link")
		}
	})
}

// TestPagingIsExactWhateverDrivesTheSearch: the same as
// TestPagingIsExactWhileOthersWrite for searches planned differently: one
// driven by a reference and sorted by a decimal, one through a chain to
// another type, one through a chain to its own type.
func TestPagingIsExactWhateverDrivesTheSearch(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, g *testGateway) {
		created := func(body string) string {
			r := g.do("POST", "/"+strings.SplitN(strings.SplitN(body, `"resourceType":"`, 2)[1], `"`, 2)[0], body)
			require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
			return r.json(t)["id"].(string)
		}
		update := func(typ, id, body string) {
			body = strings.Replace(body, `{"resourceType":"`+typ+`",`, `{"resourceType":"`+typ+`","id":"`+id+`",`, 1)
			r := g.do("PUT", "/"+typ+"/"+id, body)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		}
		get := func(path string) reply { return g.do("GET", path, "") }
		check := func(t *testing.T, want, got []string, totals []any) {
			t.Helper()
			missing, repeated := once(want, got)
			assert.Empty(t, missing, "skipped: %v", got)
			assert.Empty(t, repeated, "repeated: %v", got)
			for i, n := range totals {
				assert.Equal(t, fmt.Sprint(len(want)), fmt.Sprint(n), "page %d's total", i)
			}
		}

		root := created(pagingPatient("Root", 100))
		obs := func(v string) string {
			return `{"resourceType":"Observation","status":"final","code":{"text":"weight"},"subject":{"reference":"Patient/` + root + `"},"valueQuantity":{"value":` + v + `,"unit":"kg"}}`
		}
		values := []string{"1.5", "2.25", "3", "4.75", "5", "6.5"}
		var observations []string
		for _, v := range values {
			observations = append(observations, created(obs(v)))
		}
		t.Run("reference, sorted by a decimal", func(t *testing.T) {
			got, totals := pageThrough(t, get, "/Observation?subject=Patient/"+root+"&_sort=value-quantity&_count=2", func() {
				update("Observation", observations[0], obs("9.5")) // read; moves to the end
				update("Observation", observations[4], obs("0.5")) // not read; moves to the front
			})
			check(t, observations, got, totals)
		})
		t.Run("chain to another type", func(t *testing.T) {
			got, totals := pageThrough(t, get, "/Observation?subject.family=Root&_sort=-value-quantity&_count=2", func() {
				update("Observation", observations[1], obs("0.25"))
				update("Observation", observations[3], obs("10"))
			})
			check(t, observations, got, totals)
		})

		linked := func(family string) string {
			return `{"resourceType":"Patient","name":[{"family":"` + family + `"}],"link":[{"other":{"reference":"Patient/` + root + `"},"type":"seealso"}]}`
		}
		var patients []string
		for _, f := range []string{"La", "Lb", "Lc", "Ld", "Le"} {
			patients = append(patients, created(linked(f)))
		}
		t.Run("chain to its own type", func(t *testing.T) {
			got, totals := pageThrough(t, get, "/Patient?link:Patient.family=Root&_sort=family&_count=2", func() {
				update("Patient", patients[0], linked("Lz"))
				update("Patient", patients[3], linked("L0"))
			})
			check(t, patients, got, totals)
		})
	})
}
