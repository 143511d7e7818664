package directorytest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// PublisherSystem is the identifier system of generated entries.
const PublisherSystem = "https://publisher.example/directory"

// ServiceTypes are the SNOMED CT service types generated entries use
// (all of the verified set).
var ServiceTypes = []string{
	"310080006", // Pharmacy service
	"722140001", // Physiotherapy service
	"708168004", // Mental health service
	"413331009", // Voluntary services
	"310134006", // Social services
	"983341000000102",
	"788007007",
	"829961000000104",
}

var categories = []string{"practice-team", "external-referral", "signpost"}

var districts = []string{"LS1", "LS2", "LS3", "LS4", "LS5", "LS6", "LS7", "LS8", "LS9", "LS10", "LS11", "LS12", "LS13", "LS14", "LS15", "LS16", "LS17"}

// Services returns n HealthcareServices keyed by PublisherSystem and
// "svc-00042" values, stamped with the publisher timestamp updated.
// Roughly: 3% inactive, 10% not accepting, 10% limited capacity, a third
// with an age range, some with sex, need group or catchment
// restrictions, weekday hours with some evenings and weekends.
func Services(d mapping.Directory, n int, seed uint64, updated time.Time) []map[string]any {
	rnd := rand.New(rand.NewPCG(seed, seed^0x5eed))
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = service(d, rnd, i, updated)
	}
	return out
}

func num(v int) json.Number { return json.Number(fmt.Sprint(v)) }

func service(d mapping.Directory, rnd *rand.Rand, i int, updated time.Time) map[string]any {
	typ := ServiceTypes[rnd.IntN(len(ServiceTypes))]
	m := map[string]any{
		"resourceType": "HealthcareService",
		"identifier":   []any{map[string]any{"system": PublisherSystem, "value": fmt.Sprintf("svc-%05d", i)}},
		"active":       rnd.IntN(100) >= 3,
		"name":         fmt.Sprintf("Service %05d", i),
		"type":         []any{map[string]any{"coding": []any{map[string]any{"system": snomed.System, "code": typ}}}},
		"category": []any{map[string]any{"coding": []any{map[string]any{
			"system": d.CodeSystem(snomed.NavigationCategory), "code": categories[rnd.IntN(len(categories))]}}}},
		"telecom": []any{map[string]any{"system": "phone", "value": fmt.Sprintf("0113 496 %04d", i%1000), "use": "work"}},
	}
	days := []any{"mon", "tue", "wed", "thu", "fri"}
	if rnd.IntN(4) == 0 {
		days = append(days, "sat")
	}
	start, end := 8+rnd.IntN(2), 16+rnd.IntN(5)
	m["availableTime"] = []any{map[string]any{"daysOfWeek": days,
		"availableStartTime": fmt.Sprintf("%02d:00:00", start), "availableEndTime": fmt.Sprintf("%02d:30:00", end)}}
	ext := []any{map[string]any{"url": d.Extension(mapping.ExtSourceUpdated), "valueInstant": updated.UTC().Format(time.RFC3339Nano)}}
	switch r := rnd.IntN(10); r {
	case 0, 1:
		status := mapping.CapacityNotAccepting
		if r == 1 {
			status = mapping.CapacityLimited
		}
		ext = append(ext, map[string]any{"url": d.Extension(mapping.ExtCapacity), "extension": []any{
			map[string]any{"url": "status", "valueCode": status},
			map[string]any{"url": "setAt", "valueDateTime": updated.Add(-72 * time.Hour).UTC().Format(time.RFC3339)},
		}})
	}
	var crit []any
	if rnd.IntN(3) == 0 {
		lo := []int{0, 16, 18, 65}[rnd.IntN(4)]
		rng := map[string]any{"low": map[string]any{"value": num(lo), "system": mapping.UCUMSystem, "code": "a", "unit": "years"}}
		if lo == 0 {
			rng["high"] = map[string]any{"value": num(17), "system": mapping.UCUMSystem, "code": "a", "unit": "years"}
		}
		crit = append(crit, map[string]any{"url": "age", "valueRange": rng})
	}
	if rnd.IntN(12) == 0 {
		crit = append(crit, map[string]any{"url": "sex", "valueCode": []string{"female", "male"}[rnd.IntN(2)]})
	}
	if rnd.IntN(10) == 0 {
		crit = append(crit, map[string]any{"url": "needGroup", "valueCoding": map[string]any{
			"system": d.CodeSystem(snomed.PatientNeedGroup), "code": fmt.Sprint(5 + rnd.IntN(7))}})
	}
	if len(crit) > 0 {
		m["eligibility"] = []any{map[string]any{"comment": "Generated criteria",
			"extension": []any{map[string]any{"url": d.Extension(mapping.ExtEligibility), "extension": crit}}}}
	}
	if rnd.IntN(4) == 0 {
		var sub []any
		for k := 0; k < 1+rnd.IntN(3); k++ {
			sub = append(sub, map[string]any{"url": "postcodeDistrict", "valueString": districts[rnd.IntN(len(districts))]})
		}
		ext = append(ext, map[string]any{"url": d.Extension(mapping.ExtCatchment), "extension": sub})
	}
	m["extension"] = ext
	return m
}

// Transaction returns a transaction Bundle upserting services by
// conditional update on their first identifier.
func Transaction(services []map[string]any) map[string]any {
	entries := make([]any, len(services))
	for i, s := range services {
		id := s["identifier"].([]any)[0].(map[string]any)
		entries[i] = map[string]any{
			"resource": s,
			"request": map[string]any{"method": "PUT", "url": mapping.ConditionalURL("HealthcareService",
				mapping.Identifier{System: id["system"].(string), Value: id["value"].(string)})},
		}
	}
	return map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries}
}
