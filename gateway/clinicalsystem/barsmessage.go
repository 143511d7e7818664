package clinicalsystem

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/fhir"
)

// ReferralInput is what a BaRS referral request (or its cancellation) is
// made of: the stored resources as they are, and the names around them.
type ReferralInput struct {
	// Canonical is Signpost's canonical base (identifier systems).
	Canonical string
	// ProcessMessage is the URL of Signpost's own $process-message, where
	// the service sends its responses (MessageHeader.source.endpoint).
	ProcessMessage string
	// MessageID is the MessageHeader id (and the Bundle's).
	MessageID string
	// Reason is "new" or "cancel".
	Reason string
	Now    time.Time
	// Task, Allocation and Service are the stored navigation Task, the
	// allocation ServiceRequest and the HealthcareService referred to.
	Task, Allocation, Service map[string]any
	// Patient is the stored Patient, nil when the Task names only an NHS
	// number.
	Patient map[string]any
	// Practice is the practice's ODS code and PracticeName its name.
	Practice, PracticeName string
	// Target is the service's identifier (NHSD-Target-Identifier): the
	// destination's endpoint is system|value.
	TargetSystem, TargetValue string
	// NeedGroups are the need-group Observations the allocation cites.
	NeedGroups []map[string]any
	// ShareConsent: the patient agreed that their details go to the
	// service (the Task's share-consent input); the message carries a
	// Consent saying so.
	ShareConsent bool
}

// Profiles of the BaRS and UK Core resources the message uses.
const (
	profileBundle         = "https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage"
	profileMessageHeader  = "https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-servicerequest-request"
	profileServiceRequest = "https://fhir.nhs.uk/StructureDefinition/BARSServiceRequest-request-referral"
	profilePatient        = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
	profileEncounter      = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Encounter"
	profileOrganization   = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Organization"
	profileObservation    = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Observation"
	profileConsent        = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Consent"
	// ReferralDefinition is the MessageDefinition of a referral request.
	ReferralDefinition = "https://fhir.nhs.uk/MessageDefinition/bars-message-servicerequest-request"
	nhsNumberSystem    = "https://fhir.nhs.uk/Id/nhs-number"
	snomedSystem       = "http://snomed.info/sct"
)

// ReferralMessage builds the BaRS referral request message Bundle of an
// allocation (docs/bars.md): MessageHeader (event servicerequest-request,
// reason new or cancel, focus the ServiceRequest), the ServiceRequest, the
// Patient, an Encounter for the contact, the practice and the service's
// Organizations, the need-group Observations, a Flag per communication
// need, an Observation per coded symptom and the contact's other answers
// as a QuestionnaireResponse. A cancellation carries the ServiceRequest
// revoked. Every entry's fullUrl is a urn:uuid, the same in every send of
// the same allocation, and every reference is to an entry.
func ReferralMessage(in ReferralInput) ([]byte, error) {
	allocID := jsonStr(in.Allocation["id"])
	taskID := jsonStr(in.Task["id"])
	if allocID == "" || taskID == "" || in.MessageID == "" {
		return nil, fmt.Errorf("clinicalsystem: referral message: the allocation, the Task and a message id are needed")
	}
	urn := func(what string) string {
		return "urn:uuid:" + uuid.NewSHA1(barsSpace, []byte(allocID+"/"+what)).String()
	}
	id := func(full string) string { return strings.TrimPrefix(full, "urn:uuid:") }
	var entries []any
	add := func(full string, res map[string]any) {
		res["id"] = id(full)
		entries = append(entries, map[string]any{"fullUrl": full, "resource": res})
	}
	ref := func(full string) map[string]any { return map[string]any{"reference": full} }
	now := in.Now.UTC().Format(fhir.InstantFormat)
	base := strings.TrimRight(in.Canonical, "/")

	hdrURN, srURN, patURN, encURN := urn("header/"+in.MessageID), urn("servicerequest"), urn("patient"), urn("encounter")
	practiceURN, providerURN, qrURN := urn("practice"), urn("provider"), urn("answers")

	// The ServiceRequest as BaRS profiles it.
	status := "active"
	if in.Reason == "cancel" {
		status = "revoked"
	}
	sr := map[string]any{
		"resourceType": "ServiceRequest",
		"meta":         map[string]any{"profile": []any{profileServiceRequest}},
		"identifier":   []any{map[string]any{"system": base + "/sid/allocation", "value": allocID}},
		"status":       status,
		"intent":       "order",
		"category": append([]any{map[string]any{"coding": []any{map[string]any{"system": BaRSCategorySystem, "code": "referral", "display": "Referral"}}}},
			listOf(in.Allocation["category"])...),
		"subject":    ref(patURN),
		"encounter":  ref(encURN),
		"authoredOn": orStr(jsonStr(in.Allocation["authoredOn"]), now),
		"requester":  ref(practiceURN),
		"performer":  []any{ref(providerURN)},
	}
	for _, k := range []string{"priority", "code", "occurrencePeriod", "patientInstruction", "orderDetail", "locationCode", "performerType"} {
		if v, ok := in.Allocation[k]; ok {
			sr[k] = v
		}
	}
	var reasonCodes, support []any
	var symptoms []map[string]any
	var answers []any
	for _, raw := range listOf(in.Task["input"]) {
		inp, _ := raw.(map[string]any)
		code := inputCode(inp)
		switch code {
		case "symptom":
			if cc, ok := inp["valueCodeableConcept"].(map[string]any); ok {
				reasonCodes = append(reasonCodes, cc)
				symptoms = append(symptoms, cc)
			}
		case "communication-need":
			if cc, ok := inp["valueCodeableConcept"].(map[string]any); ok {
				full := urn(fmt.Sprintf("flag/%d", len(support)))
				add(full, map[string]any{"resourceType": "Flag", "status": "active",
					"category": []any{map[string]any{"text": "Reasonable Adjustment - Communication needs"}},
					"code":     cc, "subject": ref(patURN), "period": map[string]any{"start": orStr(jsonStr(in.Task["authoredOn"]), now)}})
				support = append(support, map[string]any{"reference": full, "display": "Communication needs (reasonable adjustment) flag"})
			}
		case "problem", "duration", "trend", "tried", "ice", "asked-before", "patient-urgency", "preferred-mode", "escalating-concern", "request-type", "contact-route":
			if a := answerOf(inp); a != nil {
				answers = append(answers, map[string]any{"linkId": code, "text": code, "answer": []any{a}})
			}
		}
		if code == "problem" {
			if s := jsonStr(inp["valueString"]); s != "" {
				reasonCodes = append(reasonCodes, map[string]any{"text": s})
			}
		}
	}
	if len(reasonCodes) > 0 {
		sr["reasonCode"] = reasonCodes
	}
	for i, obs := range in.NeedGroups {
		o := stripped(obs)
		o["subject"] = ref(patURN)
		delete(o, "encounter")
		full := urn(fmt.Sprintf("needgroup/%d", i))
		o["meta"] = map[string]any{"profile": []any{profileObservation}}
		fhir.RewriteReferences(o, func(r string) (string, bool) {
			if strings.HasPrefix(r, "urn:") {
				return "", false
			}
			return "", true // a reference to nothing in the message is dropped below
		})
		dropEmptyReferences(o)
		add(full, o)
		support = append(support, map[string]any{"reference": full, "display": "Patient need group"})
	}
	for i, cc := range symptoms {
		full := urn(fmt.Sprintf("symptom/%d", i))
		add(full, map[string]any{"resourceType": "Observation", "meta": map[string]any{"profile": []any{profileObservation}},
			"status": "final", "code": cc, "subject": ref(patURN), "encounter": ref(encURN), "effectiveDateTime": orStr(jsonStr(in.Task["authoredOn"]), now)})
		support = append(support, map[string]any{"reference": full, "display": "Person reported complaints or issues (Symptoms)"})
	}
	if len(answers) > 0 {
		add(qrURN, map[string]any{"resourceType": "QuestionnaireResponse", "status": "completed",
			"identifier": map[string]any{"system": base + "/sid/navigation-task", "value": taskID},
			"subject":    ref(patURN), "encounter": ref(encURN), "authored": orStr(jsonStr(in.Task["authoredOn"]), now),
			"source": ref(patURN), "item": answers})
		support = append(support, map[string]any{"reference": qrURN, "display": "The patient's answers at the contact"})
	}
	if in.ShareConsent {
		// The patient's agreement to share, shaped as the standard's
		// example Consent (scope patient-privacy, category LOINC
		// 59284-0), with R4's policyRule and a permit provision naming
		// the service as the recipient.
		full := urn("consent")
		add(full, map[string]any{"resourceType": "Consent", "meta": map[string]any{"profile": []any{profileConsent}},
			"status": "active",
			"scope": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
				"code": "patient-privacy", "display": "Privacy Consent"}}},
			"category": []any{map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}}}},
			"patient":  ref(patURN), "dateTime": orStr(jsonStr(in.Task["authoredOn"]), now),
			"performer": []any{ref(patURN)}, "organization": []any{ref(practiceURN)},
			"policyRule": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
				"code": "OPTIN", "display": "opt-in"}}},
			"provision": map[string]any{"type": "permit",
				"actor": []any{map[string]any{"role": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
					"code": "IRCP", "display": "information recipient"}}}, "reference": ref(providerURN)}},
				"purpose": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT", "display": "treatment"}}}})
		support = append(support, map[string]any{"reference": full, "display": "The patient's consent to share with the service"})
	}
	if len(support) > 0 {
		sr["supportingInfo"] = support
	}

	// The Patient: the stored one's identity, or the NHS number alone.
	pat := map[string]any{"resourceType": "Patient", "meta": map[string]any{"profile": []any{profilePatient}}}
	if in.Patient != nil {
		for _, k := range []string{"identifier", "name", "gender", "birthDate", "telecom", "address"} {
			if v, ok := in.Patient[k]; ok {
				pat[k] = v
			}
		}
	}
	if nhs := nhsNumberOf(in.Task, in.Patient); nhs != "" && !hasNHSNumber(pat) {
		pat["identifier"] = append(listOf(pat["identifier"]), map[string]any{"system": nhsNumberSystem, "value": nhs})
	}

	// The contact, as an Encounter.
	class := map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR", "display": "virtual"}
	route := ""
	for _, raw := range listOf(in.Task["input"]) {
		inp, _ := raw.(map[string]any)
		if inputCode(inp) == "contact-route" {
			route = jsonStr(inp["valueCode"])
		}
	}
	if route == "walk-in" {
		class = map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"}
	}
	enc := map[string]any{"resourceType": "Encounter", "meta": map[string]any{"profile": []any{profileEncounter}},
		"identifier": []any{map[string]any{"system": base + "/sid/navigation-task", "value": taskID}},
		"status":     "finished", "class": class, "subject": ref(patURN), "serviceProvider": ref(practiceURN),
		"period": map[string]any{"start": orStr(jsonStr(in.Task["authoredOn"]), now)}}
	if route != "" {
		enc["type"] = []any{map[string]any{"text": "Contact by " + route}}
	}

	practice := map[string]any{"resourceType": "Organization", "meta": map[string]any{"profile": []any{profileOrganization}},
		"identifier": []any{map[string]any{"system": ODSSystem, "value": in.Practice}}, "name": orStr(in.PracticeName, "Practice "+in.Practice)}
	provider := map[string]any{"resourceType": "Organization", "meta": map[string]any{"profile": []any{profileOrganization}},
		"name": orStr(jsonStr(in.Service["name"]), "the service")}
	if pb, ok := in.Service["providedBy"].(map[string]any); ok {
		if idn, ok := pb["identifier"].(map[string]any); ok {
			provider["identifier"] = []any{idn}
		}
		if d := jsonStr(pb["display"]); d != "" {
			provider["name"] = d
		}
	}
	if provider["identifier"] == nil && in.TargetSystem != "" {
		provider["identifier"] = []any{map[string]any{"system": in.TargetSystem, "value": in.TargetValue}}
	}

	reasonCode := "new"
	if in.Reason == "cancel" {
		reasonCode = "cancel"
	}
	hdr := map[string]any{"resourceType": "MessageHeader",
		"meta":        map[string]any{"profile": []any{profileMessageHeader}},
		"eventCoding": map[string]any{"system": BaRSEventSystem, "code": EventReferralRequest},
		"destination": []any{map[string]any{"name": orStr(jsonStr(in.Service["name"]), "the service"),
			"endpoint": in.TargetSystem + "|" + in.TargetValue, "receiver": ref(providerURN)}},
		"sender":     ref(practiceURN),
		"source":     map[string]any{"name": "Signpost", "software": "Signpost", "endpoint": in.ProcessMessage},
		"reason":     map[string]any{"coding": []any{map[string]any{"system": BaRSReasonSystem, "code": reasonCode}}},
		"focus":      []any{ref(srURN)},
		"definition": ReferralDefinition,
	}
	// The header, the focus and who is who first, as the examples order
	// them; the supporting resources added above follow.
	rest := entries
	entries = nil
	add(hdrURN, hdr)
	entries[0].(map[string]any)["resource"].(map[string]any)["id"] = in.MessageID
	add(srURN, sr)
	add(patURN, pat)
	add(encURN, enc)
	add(practiceURN, practice)
	add(providerURN, provider)
	entries = append(entries, rest...)
	return json.Marshal(map[string]any{"resourceType": "Bundle", "id": in.MessageID,
		"meta": map[string]any{"profile": []any{profileBundle}}, "type": "message", "timestamp": now, "entry": entries})
}

var jsonStr = fhir.Str

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var listOf = fhir.List

// inputCode is the navigation-input code of a Task.input.
func inputCode(inp map[string]any) string {
	t, _ := inp["type"].(map[string]any)
	for _, c := range listOf(t["coding"]) {
		if m, ok := c.(map[string]any); ok {
			if code := jsonStr(m["code"]); code != "" {
				return code
			}
		}
	}
	return ""
}

// answerOf makes a QuestionnaireResponse answer of an input's value.
func answerOf(inp map[string]any) map[string]any {
	for k, v := range inp {
		if !strings.HasPrefix(k, "value") {
			continue
		}
		switch k {
		case "valueString", "valueBoolean", "valueInteger", "valueDecimal", "valueDate", "valueDateTime":
			return map[string]any{k: v}
		case "valueCode":
			return map[string]any{"valueString": v}
		case "valueDuration", "valueQuantity":
			return map[string]any{"valueQuantity": v}
		}
	}
	return nil
}

// stripped is a copy of a stored resource without id and server meta.
func stripped(obj map[string]any) map[string]any {
	b, _ := json.Marshal(obj)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	delete(out, "id")
	delete(out, "meta")
	return out
}

// dropEmptyReferences removes the Reference objects RewriteReferences
// emptied, and the arrays they leave empty.
func dropEmptyReferences(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if m, ok := c.(map[string]any); ok {
				if r, has := m["reference"]; has && r == "" {
					delete(x, k)
					continue
				}
			}
			if l, ok := c.([]any); ok {
				kept := l[:0]
				for _, e := range l {
					if m, ok := e.(map[string]any); ok {
						if r, has := m["reference"]; has && r == "" {
							continue
						}
					}
					kept = append(kept, e)
				}
				if len(kept) == 0 {
					delete(x, k)
					continue
				}
				x[k] = kept
			}
			dropEmptyReferences(x[k])
		}
	case []any:
		for _, e := range x {
			dropEmptyReferences(e)
		}
	}
}

func nhsNumberOf(task, patient map[string]any) string {
	if f, ok := task["for"].(map[string]any); ok {
		if idn, ok := f["identifier"].(map[string]any); ok && jsonStr(idn["system"]) == nhsNumberSystem {
			return jsonStr(idn["value"])
		}
	}
	return ""
}

func hasNHSNumber(pat map[string]any) bool {
	for _, x := range listOf(pat["identifier"]) {
		if m, ok := x.(map[string]any); ok && jsonStr(m["system"]) == nhsNumberSystem && jsonStr(m["value"]) != "" {
			return true
		}
	}
	return false
}
