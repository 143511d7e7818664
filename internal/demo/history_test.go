package demo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/fhir/store/sqlite"
	"github.com/signpost-fhir/signpost/gateway"
	"github.com/signpost-fhir/signpost/internal/demo"
	"github.com/signpost-fhir/signpost/snomed"
)

// The demo history on an embedded store with the demo content: seeded
// once, not again; with the shape the dashboard is meant to show, counted
// here from the stored resources (not with the measures' code).
func TestSeedHistory(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cs, err := snomed.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	term, err := snomed.New(cs, snomed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := term.Seed(ctx, st); err != nil {
		t.Fatal(err)
	}
	srv := gateway.New(gateway.Options{Store: st})
	srv.RegisterTerminology(term)
	if err := srv.RegisterNavigation(ctx, gateway.NavigationOptions{Terminology: term, DemoDir: "../../testdata/protocols"}); err != nil {
		t.Fatal(err)
	}
	// A Saturday afternoon: eight whole weeks and this week's Monday to
	// Friday.
	now := time.Date(2026, 11, 21, 15, 0, 0, 0, time.UTC)
	o := demo.Options{Store: st, Base: gateway.DefaultCanonicalBase, Terminology: term, Now: func() time.Time { return now }}
	first, err := demo.SeedHistory(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if first.Contacts < 300 || first.Contacts > 700 || first.Stored != first.Contacts {
		t.Fatalf("first seeding: %+v, want a few hundred contacts, all written", first)
	}
	if got, want := first.From.Format("2006-01-02"), "2026-09-21"; got != want {
		t.Errorf("the history starts on %s, want the Monday eight weeks before this week's, %s", got, want)
	}
	again, err := demo.SeedHistory(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Stored != 0 || again.Contacts != first.Contacts {
		t.Errorf("seeding again: %+v, want the same %d contacts and nothing written", again, first.Contacts)
	}
	// Three days later: only the contacts of the days since are new.
	now = now.Add(3 * 24 * time.Hour)
	later, err := demo.SeedHistory(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	// The navigation Tasks (the others are clinician-review Tasks).
	tasks := all(t, st, "Task", url.Values{"code": {gateway.DefaultCanonicalBase + "/CodeSystem/navigation-task|navigate"}})
	if later.Stored == 0 || len(tasks) != first.Contacts+later.Stored {
		t.Errorf("three days later: %+v, and %d Tasks stored after %d", later, len(tasks), first.Contacts)
	}

	// The shape, from the stored resources.
	london, _ := time.LoadLocation("Europe/London")
	label := gateway.DefaultCanonicalBase + "/CodeSystem/practice"
	cells := map[string]int{}
	routes := map[string]int{}
	problems := map[string][]time.Time{}
	reattend := 0
	navigated := 0
	for _, tk := range tasks {
		if !labelled(tk, label) {
			t.Errorf("Task/%s has no practice label Y99999", tk["id"])
		}
		at, err := time.Parse(time.RFC3339, tk["authoredOn"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if at.After(now) {
			t.Errorf("Task/%s is authored in the future (%s)", tk["id"], at)
		}
		lt := at.In(london)
		cells[fmt.Sprintf("%s %02d", lt.Weekday(), lt.Hour())]++
		var problem string
		for _, in := range tk["input"].([]any) {
			m := in.(map[string]any)
			code := m["type"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"]
			switch code {
			case "contact-route":
				routes[m["valueCode"].(string)]++
			case "problem":
				problem = m["valueString"].(string)
			}
		}
		key := tk["for"].(map[string]any)["reference"].(string) + "|" + problem
		for _, prev := range problems[key] {
			if d := at.Sub(prev).Abs(); d > 0 && d <= 14*24*time.Hour {
				reattend++
				break
			}
		}
		problems[key] = append(problems[key], at)
		if tk["status"] != "requested" {
			navigated++
		}
	}
	busiest, max := "", 0
	for k, n := range cells {
		if n > max {
			busiest, max = k, n
		}
	}
	if busiest != "Monday 08" {
		t.Errorf("the busiest weekday and hour is %s (%d), want Monday 08: %v", busiest, max, cells)
	}
	if len(routes) != 3 || routes["phone"] == 0 || routes["online"] == 0 || routes["walk-in"] == 0 {
		t.Errorf("contact routes %v, want phone, online and walk-in", routes)
	}
	if reattend == 0 {
		t.Errorf("no patient came back about the same problem within two weeks")
	}
	if navigated == len(tasks) || navigated < len(tasks)*8/10 {
		t.Errorf("%d of %d requests navigated, want most but not all", navigated, len(tasks))
	}

	srs := all(t, st, "ServiceRequest", url.Values{})
	categories := map[string]int{}
	declined := 0
	// The request of each current allocation (Task.output allocation).
	taskTime := map[string]time.Time{}
	for _, tk := range tasks {
		at, _ := time.Parse(time.RFC3339, tk["authoredOn"].(string))
		outs, _ := tk["output"].([]any)
		for _, o := range outs {
			if ref, ok := o.(map[string]any)["valueReference"].(map[string]any); ok {
				if r, _ := ref["reference"].(string); strings.HasPrefix(r, "ServiceRequest/") {
					taskTime[r] = at
				}
			}
		}
	}
	current := 0
	for _, sr := range srs {
		if !labelled(sr, label) {
			t.Errorf("ServiceRequest/%s has no practice label Y99999", sr["id"])
		}
		for _, c := range sr["category"].([]any) {
			categories[c.(map[string]any)["coding"].([]any)[0].(map[string]any)["code"].(string)]++
		}
		b, _ := json.Marshal(sr["note"])
		if sr["status"] == "revoked" && strings.Contains(string(b), "declined by the patient") {
			declined++
		}
		authored, _ := time.Parse(time.RFC3339, sr["authoredOn"].(string))
		if ta, ok := taskTime["ServiceRequest/"+sr["id"].(string)]; ok {
			current++
			if authored.Before(ta) {
				t.Errorf("ServiceRequest/%s is authored before its request (%s)", sr["id"], ta)
			}
		}
		if authored.After(now) {
			t.Errorf("ServiceRequest/%s is authored in the future", sr["id"])
		}
	}
	if current != navigated {
		t.Errorf("%d allocations are the outputs of requests, want the %d navigated", current, navigated)
	}
	if len(categories) < 4 {
		t.Errorf("allocations in categories %v, want at least four", categories)
	}
	if declined == 0 {
		t.Errorf("no Pharmacy First allocation was declined by the patient")
	}
	patients := all(t, st, "Patient", url.Values{})
	sexes, births := map[string]bool{}, map[int]bool{}
	for _, p := range patients {
		g, _ := p["gender"].(string)
		sexes[g] = true
		if b, ok := p["birthDate"].(string); ok {
			y := 0
			fmt.Sscanf(b, "%d", &y)
			births[(2026-y)/10] = true
		}
	}
	if !sexes["female"] || !sexes["male"] || len(births) < 8 {
		t.Errorf("patients of sexes %v and ages by decade %v, want both sexes and every age", sexes, births)
	}
}

func labelled(r map[string]any, system string) bool {
	meta, _ := r["meta"].(map[string]any)
	sec, _ := meta["security"].([]any)
	for _, s := range sec {
		m := s.(map[string]any)
		if m["system"] == system && m["code"] == demo.Practice {
			return true
		}
	}
	return false
}

func all(t *testing.T, st store.Store, typ string, crit url.Values) []map[string]any {
	t.Helper()
	q, err := search.ParseQuery(typ, crit, true)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	page := store.PageRequest{Count: 1000}
	for {
		res, err := st.Search(context.Background(), q, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range res.Matches {
			var m map[string]any
			if err := json.Unmarshal(v.Body, &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		if res.Next == "" {
			return out
		}
		page.Cursor = res.Next
	}
}
