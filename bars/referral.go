package bars

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/gateway/clinicalsystem"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// BaRS referrals addressed to a practice (docs/bars.md, "Receiving a
// referral"): a referral request from NHS 111, an urgent treatment centre
// or an ambulance service becomes a navigation Task of the practice, with
// the contact route referral, the message stored and the Task's focus,
// and is navigated like any contact. A disposition of the sender that is
// an emergency, or one the mapping cannot read, sends the decision to a
// clinician: a referral is never downgraded by the mapping.

// legacyEventSystem and legacyReferralEvent are the event of the
// standard's earlier example referrals (a message whose focus is the
// referral ServiceRequest).
const (
	legacyEventSystem   = "https://fhir.nhs.uk/CodeSystem/message-event"
	legacyReferralEvent = "admin-notify"
)

// Seen-elsewhere service concepts (SNOMED CT, verified list) for the
// sender's care setting.
const (
	sctEmergencyService = "310000008"       // Accident and Emergency service
	sctNHS111Service    = "907301000000109" // NHS 111 service
)

// referral is what a referral request says, mapped to the navigation
// inputs.
type referral struct {
	headerID string
	practice string
	nhs      string
	// nhsInvalid: the NHS number fails its check digit.
	nhsInvalid bool
	patient    map[string]any
	source     string
	problem    []string
	symptoms   []snomed.Coding
	needs      []snomed.Coding
	seen       []snomed.Coding
	urgency    mapping.Urgency
	review     []string
	// change is "" for a new referral, else changeUpdate or changeCancel.
	change string
	// keys name the referral ServiceRequest ("id:<id>",
	// "identifier:<system>|<value>"): an update or cancellation names it
	// as the original did.
	keys []string
	// namedSender is the ODS code of the sender the message names
	// (MessageHeader.sender), "" when it names none; sender is the
	// organisation recorded as the sender (the token's, checked against
	// namedSender: senderFor).
	namedSender, sender string
}

// The changes a referral message can make to a referral received before.
const (
	changeUpdate = "update"
	changeCancel = "cancel"
)

// parseReferral reads a referral request, addressed by target (the
// NHSD-Target-Identifier header); it returns nil, nil for a message that
// is not one (a response, read by parseResponse).
func (s *Service) parseReferral(ctx context.Context, nav Navigator, target string, body []byte) (*referral, error) {
	var peek struct {
		ResourceType string
		Type         string
		Entry        []struct {
			Resource struct {
				ResourceType string
				EventCoding  struct{ System, Code string }
			}
		}
	}
	if json.Unmarshal(body, &peek) != nil || peek.ResourceType != "Bundle" || len(peek.Entry) == 0 {
		return nil, nil
	}
	ev := peek.Entry[0].Resource.EventCoding
	legacy := ev.System == legacyEventSystem && ev.Code == legacyReferralEvent
	if !(ev.System == clinicalsystem.BaRSEventSystem && ev.Code == clinicalsystem.EventReferralRequest) && !legacy {
		return nil, nil
	}
	r, err := fhir.ParseResource(body)
	if err != nil {
		return nil, Bad("the body is not a FHIR resource")
	}
	out := &referral{}
	// The practice it is addressed to, by the header first.
	addressee := ""
	if t := strings.TrimSpace(target); t != "" {
		raw, err := base64.StdEncoding.DecodeString(t)
		if err != nil {
			raw, err = base64.RawStdEncoding.DecodeString(t)
		}
		var id struct{ System, Value string }
		if err != nil || json.Unmarshal(raw, &id) != nil || id.System == "" || id.Value == "" {
			return nil, Bad("NHSD-Target-Identifier is not Base64 of an identifier")
		}
		addressee = id.System + "|" + id.Value
		if id.System == clinicalsystem.ODSSystem {
			out.practice = strings.ToUpper(strings.TrimSpace(id.Value))
		}
	}
	// Valid R4, with one allowance: a destination without its endpoint
	// (1..1 in R4; the standard's example referrals leave it out) is read
	// as addressed to NHSD-Target-Identifier when that header is given.
	// The message is stored as received.
	check := r
	if addressee != "" {
		cp, err := fhir.ParseResource(body)
		if err != nil {
			return nil, Bad("the body is not a FHIR resource")
		}
		if em, ok := list(cp.Object()["entry"])[0].(map[string]any); ok {
			if mh, ok := em["resource"].(map[string]any); ok {
				for _, d := range list(mh["destination"]) {
					if dm, ok := d.(map[string]any); ok && dm["endpoint"] == nil {
						dm["endpoint"] = addressee
					}
				}
			}
		}
		check = cp
	}
	if err := s.host.Validate(ctx, check, false); err != nil {
		return nil, Bad("the message is not valid R4: %v", err)
	}
	obj := r.Object()
	if obj["type"] != "message" {
		return nil, Bad("the Bundle is not of type message")
	}
	byURL := map[string]map[string]any{}
	var all []map[string]any
	for _, e := range list(obj["entry"]) {
		em, _ := e.(map[string]any)
		res, _ := em["resource"].(map[string]any)
		if res == nil {
			continue
		}
		all = append(all, res)
		if u, _ := em["fullUrl"].(string); u != "" {
			byURL[u] = res
		}
		if id, _ := res["id"].(string); id != "" {
			// Bare and urn:uuid references of the examples.
			byURL[fmt.Sprint(res["resourceType"])+"/"+id] = res
			byURL[id] = res
		}
	}
	ref := func(v any) map[string]any {
		m, _ := v.(map[string]any)
		if m == nil {
			return nil
		}
		return byURL[fmt.Sprint(m["reference"])]
	}
	hdr := all[0]
	out.headerID, _ = hdr["id"].(string)
	if !fhir.ValidID(out.headerID) {
		return nil, Bad("the MessageHeader has no id")
	}
	var sr map[string]any
	for _, f := range list(hdr["focus"]) {
		if res := ref(f); res != nil && res["resourceType"] == "ServiceRequest" {
			sr = res
		}
	}
	if sr == nil {
		return nil, Bad("the MessageHeader's focus is not a ServiceRequest of the message")
	}
	// New, an update (a new version of the referral) or a cancellation
	// (reason cancel, or the ServiceRequest revoked or entered in error).
	srStatus, _ := sr["status"].(string)
	switch rc := hdr["reason"]; {
	case hasCode(rc, "cancel") || srStatus == "revoked" || srStatus == "entered-in-error":
		out.change = changeCancel
	case hasCode(rc, "update"):
		out.change = changeUpdate
	case rc == nil || hasCode(rc, "new"):
	default:
		return nil, Unprocessable("the MessageHeader's reason is not new, update or cancel")
	}
	// The referral's keys: the ServiceRequest's id (or its fullUrl's
	// uuid) and its identifiers.
	srID, _ := sr["id"].(string)
	for _, f := range list(hdr["focus"]) {
		fm, _ := f.(map[string]any)
		if r := fmt.Sprint(fm["reference"]); srID == "" && strings.HasPrefix(r, "urn:uuid:") {
			srID = strings.TrimPrefix(r, "urn:uuid:")
		}
	}
	if srID != "" {
		out.keys = append(out.keys, "id:"+srID)
	}
	for _, x := range list(sr["identifier"]) {
		xm, _ := x.(map[string]any)
		if sys, val := fmt.Sprint(xm["system"]), fmt.Sprint(xm["value"]); xm["system"] != nil && xm["value"] != nil && val != "" {
			out.keys = append(out.keys, "identifier:"+sys+"|"+val)
		}
	}
	if len(out.keys) == 0 {
		return nil, Unprocessable("the referral ServiceRequest has neither an id nor an identifier")
	}
	// The sender the message names.
	if snd, ok := hdr["sender"].(map[string]any); ok {
		if code := odsOf([]any{snd["identifier"]}); code != "" {
			out.namedSender = code
		} else if org := ref(snd); org != nil && org["resourceType"] == "Organization" {
			out.namedSender = odsOf(list(org["identifier"]))
		}
	}

	// Else the practice of the MessageHeader's destination.
	if out.practice == "" {
		for _, d := range list(hdr["destination"]) {
			dm, _ := d.(map[string]any)
			rcv, _ := dm["receiver"].(map[string]any)
			if code := odsOf([]any{rcv["identifier"]}); code != "" {
				out.practice = code
			} else if org := ref(rcv); org != nil && org["resourceType"] == "Organization" {
				if code := odsOf(list(org["identifier"])); code != "" {
					out.practice = code
				}
			}
		}
	}
	if !validODS(out.practice) {
		return nil, Unprocessable("the referral is not addressed to a practice (an ODS code in NHSD-Target-Identifier or the MessageHeader's destination)")
	}

	if src, ok := hdr["source"].(map[string]any); ok {
		out.source, _ = src["name"].(string)
	}
	if out.source == "" {
		out.source = "another service"
	}
	if out.change == changeCancel {
		// A cancellation names the referral; its content is not read.
		return out, nil
	}

	// The patient, by NHS number.
	pat := ref(sr["subject"])
	if pat == nil || pat["resourceType"] != "Patient" {
		return nil, Unprocessable("the referral's subject is not a Patient of the message")
	}
	for _, x := range list(pat["identifier"]) {
		xm, _ := x.(map[string]any)
		if xm["system"] == mapping.NHSNumberSystem {
			out.nhs, _ = xm["value"].(string)
		}
	}
	if strings.TrimSpace(out.nhs) == "" {
		return nil, Unprocessable("the referral's Patient has no NHS number")
	}
	if !mapping.ValidNHSNumber(out.nhs) {
		// Kept as received on the Patient, not on the Task: who the
		// patient is is for a person to confirm.
		out.nhsInvalid = true
		out.review = append(out.review, "the patient's NHS number fails its check digit")
	}
	out.patient = pat

	// What it is about: the words, and the SNOMED CT codes Signpost
	// knows.
	known := func(c map[string]any) (snomed.Coding, bool) {
		if c["system"] != snomed.System {
			return snomed.Coding{}, false
		}
		sc := snomed.Coding{System: snomed.System, Code: fmt.Sprint(c["code"])}
		term := nav.Terminology()
		if term == nil {
			return sc, false
		}
		issues, err := term.CheckCoding(ctx, s.host.Store(), "coding", sc, "", snomed.CheckOptions{Strict: true})
		return sc, err == nil && len(issues) == 0
	}
	addText := func(t any) {
		if str, _ := t.(string); strings.TrimSpace(str) != "" {
			out.problem = append(out.problem, strings.TrimSpace(str))
		}
	}
	concept := func(cc any, symptom bool) {
		m, _ := cc.(map[string]any)
		if m == nil {
			return
		}
		coded := false
		for _, c := range list(m["coding"]) {
			cm, _ := c.(map[string]any)
			if sc, ok := known(cm); ok && symptom {
				out.symptoms = append(out.symptoms, sc)
				coded = true
			}
		}
		if !coded {
			if t, _ := m["text"].(string); t != "" {
				addText(t)
			} else {
				for _, c := range list(m["coding"]) {
					cm, _ := c.(map[string]any)
					if cm["system"] == "https://fhir.nhs.uk/CodeSystem/BARS-clinical-urgency" {
						continue
					}
					addText(cm["display"])
				}
			}
		}
	}
	concept(sr["code"], true)
	for _, rc := range list(sr["reasonCode"]) {
		concept(rc, true)
	}
	for _, n := range list(sr["note"]) {
		nm, _ := n.(map[string]any)
		addText(nm["text"])
	}
	addText(sr["patientInstruction"])
	var enc map[string]any
	if e := ref(sr["encounter"]); e != nil && e["resourceType"] == "Encounter" {
		enc = e
	}
	for _, res := range all {
		switch res["resourceType"] {
		case "Condition":
			concept(res["code"], true)
		case "Observation":
			concept(res["code"], true)
			concept(res["valueCodeableConcept"], true)
			addText(res["valueString"])
			for _, n := range list(res["note"]) {
				nm, _ := n.(map[string]any)
				addText(nm["text"])
			}
		case "Flag":
			if res["status"] != nil && res["status"] != "active" {
				continue
			}
			ra := false
			for _, c := range list(res["category"]) {
				cm, _ := c.(map[string]any)
				for _, cd := range list(cm["coding"]) {
					cm, _ := cd.(map[string]any)
					if strings.Contains(strings.ToLower(fmt.Sprint(cm["system"])), "adjustment") {
						ra = true
					}
				}
			}
			cc, _ := res["code"].(map[string]any)
			mapped := false
			if ra {
				for _, c := range list(cc["coding"]) {
					cm, _ := c.(map[string]any)
					if sc, ok := known(cm); ok {
						out.needs = append(out.needs, sc)
						mapped = true
					}
				}
			}
			if !mapped {
				text, _ := cc["text"].(string)
				if text == "" {
					for _, c := range list(cc["coding"]) {
						cm, _ := c.(map[string]any)
						if d, _ := cm["display"].(string); d != "" {
							text = d
						}
					}
				}
				if text == "" {
					text = "a flag"
				}
				out.problem = append(out.problem, "Flag: "+text)
				out.review = append(out.review, "a flag the mapping cannot code ("+text+")")
			}
		}
	}
	if len(out.problem) > 40 {
		out.problem = out.problem[:40]
	}

	// The sender's disposition.
	urgency := mapping.Urgency("")
	class, _ := enc["class"].(map[string]any)
	switch {
	case sr["priority"] == "stat" || class["code"] == "EMER":
		urgency = mapping.UrgencyEmergency
	case sr["priority"] == "asap" || sr["priority"] == "urgent":
		urgency = mapping.UrgencySameDay
	case sr["priority"] == "routine":
		urgency = mapping.UrgencyRoutine
	}
	out.urgency = urgency
	switch urgency {
	case mapping.UrgencyEmergency:
		out.review = append(out.review, "the sender's disposition is an emergency")
		out.seen = append(out.seen, snomed.Coding{System: snomed.System, Code: sctEmergencyService})
	case "":
		out.review = append(out.review, "the sender's disposition cannot be read")
	}
	if strings.Contains(out.source, "111") {
		out.seen = append(out.seen, snomed.Coding{System: snomed.System, Code: sctNHS111Service})
	}
	return out, nil
}

// hasCode: a CodeableConcept with a coding of code.
func hasCode(cc any, code string) bool {
	m, _ := cc.(map[string]any)
	for _, c := range list(m["coding"]) {
		if cm, _ := c.(map[string]any); cm["code"] == code {
			return true
		}
	}
	return false
}

func validODS(code string) bool {
	if len(code) < 3 || len(code) > 10 {
		return false
	}
	for _, c := range code {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// receiveReferral stores a referral request and its navigation Task in
// one transaction (once per MessageHeader id), then navigates the Task.
func (s *Service) receiveReferral(ctx context.Context, nav Navigator, in Message, ref *referral) ([]byte, error) {
	receipt := uuid.NewSHA1(receiptSpace, []byte("received/"+ref.headerID)).String()
	taskID := uuid.NewSHA1(receiptSpace, []byte("task/"+ref.headerID)).String()
	var (
		stored    store.Version
		duplicate bool
	)
	err := s.host.Store().Transaction(ctx, func(tx store.Tx) error {
		duplicate = false
		if prev, seen, err := s.received(ctx, tx, in, receipt, ref.practice); err != nil || seen {
			stored, duplicate = prev, seen
			return err
		}
		patientRef, err := s.referralPatient(ctx, tx, ref)
		if err != nil {
			return err
		}
		task, err := fhir.ResourceFromObject(s.referralTask(nav, ref, taskID, receipt, patientRef))
		if err != nil {
			return err
		}
		s.host.SetPracticeLabel(task, ref.practice)
		if issues := mapping.CheckNavigationTask(task.Object(), nil, mapping.Actor{Owner: true}, nav.Names()); hasErrorIssue(issues) {
			return Unprocessable("the referral does not make a navigation request: %s", issues[0].Diagnostics)
		}
		if _, err := tx.Create(ctx, task); err != nil {
			return err
		}
		stored, err = s.storeReceipt(ctx, tx, in, receipt, ref.practice)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cfg.Log.LogAttrs(ctx, slog.LevelInfo, "bars referral", slog.String("task", taskID), slog.Bool("duplicate", duplicate),
		slog.Bool("review", len(ref.review) > 0))
	if !duplicate {
		s.navigateReferral(ctx, nav, in.Principal, ref, taskID)
	}
	return s.ack(ref.headerID, receipt, stored.LastUpdated.UTC().Format(fhir.InstantFormat))
}

func hasErrorIssue(issues []fhir.Issue) bool {
	for _, is := range issues {
		if is.Severity == fhir.SeverityError || is.Severity == fhir.SeverityFatal {
			return true
		}
	}
	return false
}

// referralPatient finds the Patient by NHS number, or creates it from the
// message's Patient (identifiers, name, gender, birth date).
func (s *Service) referralPatient(ctx context.Context, tx store.Tx, ref *referral) (string, error) {
	if err := tx.Lock(ctx, "Patient?identifier="+mapping.NHSNumberSystem+"|"+ref.nhs); err != nil {
		return "", err
	}
	q, err := search.ParseQuery("Patient", url.Values{"identifier": {mapping.NHSNumberSystem + "|" + ref.nhs}}, true)
	if err != nil {
		return "", err
	}
	page, err := tx.Search(ctx, q, store.PageRequest{Count: 2})
	if err != nil {
		return "", err
	}
	if len(page.Matches) > 0 {
		return "Patient/" + page.Matches[0].ID, nil
	}
	p := map[string]any{"resourceType": "Patient", "id": uuid.NewString(),
		"identifier": []any{map[string]any{"system": mapping.NHSNumberSystem, "value": ref.nhs}}}
	for _, k := range []string{"name", "gender", "birthDate"} {
		if v, ok := ref.patient[k]; ok {
			p[k] = v
		}
	}
	r, err := fhir.ResourceFromObject(p)
	if err != nil {
		return "", err
	}
	if err := s.host.Validate(ctx, r, false); err != nil {
		// The message's demographics do not make a valid Patient here:
		// the NHS number alone.
		r, err = fhir.ResourceFromObject(map[string]any{"resourceType": "Patient", "id": p["id"], "identifier": p["identifier"]})
		if err != nil {
			return "", err
		}
	}
	s.host.SetPracticeLabel(r, ref.practice)
	if _, err := tx.Create(ctx, r); err != nil {
		return "", err
	}
	return "Patient/" + r.ID(), nil
}

// referralTask is the navigation Task of a referral.
func (s *Service) referralTask(nav Navigator, ref *referral, taskID, receipt, patientRef string) map[string]any {
	inSys := nav.Names().System(snomed.NavigationInput)
	input := func(code, key string, v any) any {
		return map[string]any{"type": map[string]any{"coding": []any{map[string]any{"system": inSys, "code": code}}}, key: v}
	}
	cc := func(c snomed.Coding) map[string]any {
		return map[string]any{"coding": []any{map[string]any{"system": c.System, "code": c.Code}}}
	}
	problem := "Referral from " + ref.source
	if len(ref.problem) > 0 {
		problem += ": " + strings.Join(ref.problem, "; ")
	}
	inputs := []any{
		input(mapping.InputContactRoute, "valueCode", "referral"),
		input(mapping.InputRequestType, "valueCode", mapping.RequestClinical),
		input(mapping.InputProblem, "valueString", problem),
	}
	for _, c := range ref.symptoms {
		inputs = append(inputs, input(mapping.InputSymptom, "valueCodeableConcept", cc(c)))
	}
	for _, c := range ref.seen {
		inputs = append(inputs, input(mapping.InputSeenElsewhere, "valueCodeableConcept", cc(c)))
	}
	for _, c := range ref.needs {
		inputs = append(inputs, input(mapping.InputCommunicationNeed, "valueCodeableConcept", cc(c)))
	}
	if ref.urgency != "" {
		inputs = append(inputs, input(mapping.InputPatientUrgency, "valueCode", string(ref.urgency)))
	}
	ids := append([]any{map[string]any{"system": s.cfg.CanonicalBase + "/sid/bars-message", "value": ref.headerID}}, s.referralKeyIdentifiers(ref)...)
	forRef := map[string]any{"reference": patientRef, "type": "Patient"}
	if !ref.nhsInvalid {
		forRef["identifier"] = map[string]any{"system": mapping.NHSNumberSystem, "value": ref.nhs}
	}
	task := map[string]any{"resourceType": "Task", "id": taskID,
		"identifier": ids,
		"status":     "requested", "intent": "order", "priority": "routine",
		"code":        map[string]any{"coding": []any{map[string]any{"system": nav.Names().System(snomed.NavigationTask), "code": "navigate"}}},
		"description": "BaRS referral from " + ref.source,
		"focus":       map[string]any{"reference": "Bundle/" + receipt, "display": "BaRS referral message " + ref.headerID},
		"for":         forRef,
		"owner":       map[string]any{"identifier": map[string]any{"system": clinicalsystem.ODSSystem, "value": ref.practice}},
		"authoredOn":  s.host.Now().UTC().Format(fhir.InstantFormat),
		"input":       inputs}
	if ref.sender != "" {
		// The sender, as its token named it (senderFor): only it may
		// update or cancel the referral.
		task["requester"] = map[string]any{"type": "Organization", "display": ref.source,
			"identifier": map[string]any{"system": clinicalsystem.ODSSystem, "value": ref.sender}}
	}
	return task
}

// navigateReferral navigates the Task of a received referral, acting for
// the practice; a disposition the mapping cannot be sure of holds the
// decision for a clinician's review. A failure leaves the Task requested,
// to be navigated as any contact is.
func (s *Service) navigateReferral(ctx context.Context, nav Navigator, caller *auth.Principal, ref *referral, taskID string) {
	scope, _ := auth.ParseScope("system/*.cruds")
	clientID := ""
	if caller != nil {
		clientID = caller.ClientID
	}
	p := &auth.Principal{Subject: "bars-referral", ClientID: clientID, Issuer: s.cfg.CanonicalBase, Scopes: []auth.Scope{scope},
		ODS: []string{ref.practice}, Tier: auth.TierExpert, Roles: []auth.Role{auth.RoleNavigator}}
	params := &fhir.Parameters{}
	if len(ref.review) > 0 {
		params.Add("review", "Boolean", true)
		params.AddString("note", "BaRS referral for a clinician: "+strings.Join(ref.review, "; "))
	}
	if err := nav.Navigate(ctx, Navigation{Principal: p, Task: taskID, Params: params}); err != nil {
		code := "internal"
		if fe, ok := fhir.AsError(err); ok {
			code = string(fe.Code())
		}
		s.cfg.Log.LogAttrs(ctx, slog.LevelWarn, "bars referral navigation failed", slog.String("task", taskID), slog.String("code", code))
	}
}
