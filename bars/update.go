package bars

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"sort"
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

// BaRS referrals addressed to a practice, after the first message
// (docs/bars.md, "Updates and cancellations"): the sender's update (a new
// version of the referral ServiceRequest, reason update) changes the
// Task's inputs and re-navigates it when its clinical content changed;
// its cancellation (reason cancel, or the ServiceRequest revoked or
// entered in error) cancels the Task. Only the organisation that sent the
// referral may do either. Who may send a referral at all is senderFor.

// StatusReferralCancelled is the navigation status of a Task whose
// referral its sender cancelled.
const StatusReferralCancelled = "referral-cancelled"

// senderFor is the organisation recorded as a referral's sender: the
// token's. A referral (new, update or cancel) needs a system client token
// holding system/MessageHeader.c itself (a wildcard scope is not enough),
// acting for one organisation; a sender the message names
// (MessageHeader.sender, by ODS code) must be that organisation. In
// development mode the sender is the one the message names.
func senderFor(p *auth.Principal, ref *referral) (string, *Error) {
	if p == nil {
		return "", forbidden("no authenticated sender")
	}
	if p.Dev {
		return ref.namedSender, nil
	}
	if !p.NamesSystemScope("MessageHeader", auth.Create) {
		return "", forbidden("sending a BaRS referral needs a system client token with the scope system/MessageHeader.c")
	}
	if ref.namedSender != "" {
		if !slices.Contains(p.ODS, ref.namedSender) {
			return "", forbidden("the message's sender (MessageHeader.sender) is not the organisation the token acts for")
		}
		return ref.namedSender, nil
	}
	if len(p.ODS) != 1 {
		return "", forbidden("the token must act for exactly one organisation, or the message name its sender (MessageHeader.sender, an ODS code) among the token's")
	}
	return p.ODS[0], nil
}

// referralKeySystem identifies, on a referral's Task, the referral
// ServiceRequest (its id and identifiers, per practice), so an update or
// cancellation finds the Task.
func (s *Service) referralKeySystem() string { return s.cfg.CanonicalBase + "/sid/bars-referral" }

func referralKeyValue(practice, key string) string {
	return uuid.NewSHA1(receiptSpace, []byte("referral/"+practice+"/"+key)).String()
}

// referralKeyIdentifiers are the Task identifiers of a referral's keys.
func (s *Service) referralKeyIdentifiers(ref *referral) []any {
	var out []any
	for _, k := range ref.keys {
		out = append(out, map[string]any{"system": s.referralKeySystem(), "value": referralKeyValue(ref.practice, k)})
	}
	return out
}

// senderOf is the ODS code a referral Task records as its sender.
func senderOf(task map[string]any) string {
	req, _ := task["requester"].(map[string]any)
	id, _ := req["identifier"].(map[string]any)
	if id["system"] != clinicalsystem.ODSSystem {
		return ""
	}
	v, _ := id["value"].(string)
	return v
}

// referralTaskOf finds the navigation Task of the referral an update or
// cancellation names, in the practice it is addressed to: by the
// ServiceRequest's identifiers, else by its id.
func (s *Service) referralTaskOf(ctx context.Context, tx store.Tx, ref *referral) (store.Version, map[string]any, error) {
	var byIdentifier, byID []string
	for _, k := range ref.keys {
		v := s.referralKeySystem() + "|" + referralKeyValue(ref.practice, k)
		if strings.HasPrefix(k, "identifier:") {
			byIdentifier = append(byIdentifier, v)
		} else {
			byID = append(byID, v)
		}
	}
	var (
		v    store.Version
		task map[string]any
		err  error
	)
	for _, ids := range [][]string{byIdentifier, byID} {
		if len(ids) == 0 {
			continue
		}
		v, task, err = s.referralTaskBy(ctx, tx, ref, ids)
		if err != nil || task != nil {
			return v, task, err
		}
	}
	return store.Version{}, nil, Unprocessable("no referral with this ServiceRequest was received from this sender for the practice")
}

// referralTaskBy is referralTaskOf for one set of key identifiers (nil
// when none matches).
func (s *Service) referralTaskBy(ctx context.Context, tx store.Tx, ref *referral, ids []string) (store.Version, map[string]any, error) {
	q, err := search.ParseQuery("Task", url.Values{"identifier": {strings.Join(ids, ",")}}, true)
	if err != nil {
		return store.Version{}, nil, err
	}
	page, err := tx.Search(ctx, q, store.PageRequest{Count: 20})
	if err != nil {
		return store.Version{}, nil, err
	}
	var (
		found      store.Version
		task       map[string]any
		otherSends bool
	)
	for _, m := range page.Matches {
		obj, err := decode(m.Body)
		if err != nil {
			return store.Version{}, nil, err
		}
		if mapping.TaskOwnerODS(obj) != ref.practice {
			continue
		}
		if senderOf(obj) != ref.sender {
			otherSends = true
			continue
		}
		if task != nil && obj["id"] != task["id"] {
			return store.Version{}, nil, Unprocessable("the message names more than one referral received before")
		}
		v, err := tx.Read(ctx, "Task", m.ID)
		if err != nil {
			return store.Version{}, nil, err
		}
		found, task = v, obj
		if task, err = decode(v.Body); err != nil {
			return store.Version{}, nil, err
		}
	}
	if task == nil && otherSends {
		return store.Version{}, nil, forbidden("only the organisation that sent the referral may update or cancel it")
	}
	return found, task, nil
}

// referralInputCodes are the navigation inputs a referral's content maps
// to (referralTask); an update replaces them and keeps the others (those
// the practice added: consent, a contact phone...).
var referralInputCodes = []string{mapping.InputContactRoute, mapping.InputRequestType, mapping.InputProblem, mapping.InputSymptom,
	mapping.InputSeenElsewhere, mapping.InputCommunicationNeed, mapping.InputPatientUrgency}

// clinicalInputs is the clinical content of a Task's mapped inputs, for
// comparison: each input as canonical JSON, sorted.
func clinicalInputs(inputs []any, inSys string) []string {
	var out []string
	for _, in := range inputs {
		m, _ := in.(map[string]any)
		typ, _ := m["type"].(map[string]any)
		code := ""
		for _, c := range list(typ["coding"]) {
			cm, _ := c.(map[string]any)
			if cm["system"] == inSys {
				code, _ = cm["code"].(string)
			}
		}
		if !slices.Contains(referralInputCodes, code) {
			continue
		}
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

// receiveChange applies an update or a cancellation of a
// referral received before, in one transaction with the message's storage
// (once per MessageHeader id) and its AuditEvent; an update whose
// clinical content changed then navigates the Task again.
func (s *Service) receiveChange(ctx context.Context, nav Navigator, in Message, ref *referral) ([]byte, error) {
	receipt := uuid.NewSHA1(receiptSpace, []byte("received/"+ref.headerID)).String()
	inSys := nav.Names().System(snomed.NavigationInput)
	var (
		stored    store.Version
		duplicate bool
		renav     bool
		taskID    string
		review    []string
	)
	err := s.host.Store().Transaction(ctx, func(tx store.Tx) error {
		duplicate, renav, taskID, review = false, false, "", nil
		if prev, seen, err := s.received(ctx, tx, in, receipt, ref.practice); err != nil || seen {
			stored, duplicate = prev, seen
			return err
		}
		// One change of a referral at a time.
		keys := slices.Clone(ref.keys)
		sort.Strings(keys)
		for _, k := range keys {
			if err := tx.Lock(ctx, "bars-referral/"+referralKeyValue(ref.practice, k)); err != nil {
				return err
			}
		}
		tv, task, err := s.referralTaskOf(ctx, tx, ref)
		if err != nil {
			return err
		}
		taskID, _ = task["id"].(string)
		now := s.host.Now().UTC().Format(fhir.InstantFormat)
		status, _ := task["status"].(string)
		bs := ""
		if b, ok := task["businessStatus"].(map[string]any); ok {
			for _, c := range list(b["coding"]) {
				cm, _ := c.(map[string]any)
				bs, _ = cm["code"].(string)
			}
		}
		changed, write := true, true
		switch ref.change {
		case changeCancel:
			switch status {
			case "cancelled":
				write = false // cancelled already: nothing changes
			case "completed", "failed", "rejected", "entered-in-error":
				return conflict("the referral's Task is %s: it can no longer be cancelled", status)
			default:
				why := "Cancelled by " + ref.source + " (BaRS message " + ref.headerID + ")"
				task["status"] = "cancelled"
				task["businessStatus"] = map[string]any{"coding": []any{map[string]any{"system": nav.Names().System(snomed.NavigationStatus),
					"code": StatusReferralCancelled, "display": "Referral cancelled"}}, "text": why}
				task["statusReason"] = map[string]any{"text": why}
				if err := s.revokeForCancel(ctx, tx, nav, task, why, now); err != nil {
					return err
				}
			}
		case changeUpdate:
			switch status {
			case "completed", "cancelled", "failed", "rejected", "entered-in-error":
				return conflict("the referral's Task is %s: it can no longer be updated", status)
			}
			if f, ok := task["for"].(map[string]any); ok {
				if id, ok := f["identifier"].(map[string]any); ok && id["value"] != ref.nhs {
					return Unprocessable("an update may not change the referral's patient")
				}
			}
			fresh := s.referralTask(nav, ref, taskID, receipt, "")
			var kept []any
			for _, x := range list(task["input"]) {
				if len(clinicalInputs([]any{x}, inSys)) == 0 {
					kept = append(kept, x)
				}
			}
			changed = !slices.Equal(clinicalInputs(list(task["input"]), inSys), clinicalInputs(list(fresh["input"]), inSys))
			task["input"] = append(kept, list(fresh["input"])...)
			task["focus"] = fresh["focus"]
			task["identifier"] = append(list(task["identifier"]), list(fresh["identifier"])[0])
			text := "Updated by " + ref.source + " (BaRS message " + ref.headerID + ")"
			switch {
			case !changed:
				text += ": no change to the clinical content"
			case bs == string(mapping.DispositionEscalated) || bs == string(mapping.DispositionReview):
				// Awaiting a clinician: only a clinician navigates it now.
				text += ": the clinical content changed; the clinician's review takes the update"
			default:
				text += ": the clinical content changed; navigated again"
				renav = true
				review = slices.Clone(ref.review)
				if cat := taskOutputCode(task, nav.Names().System(snomed.NavigationOutput), "category"); cat == string(mapping.CategoryClinician) || cat == string(mapping.CategoryEmergency) {
					review = append(review, "the referral was updated while the patient was with a clinician (the decision is not made less urgent without one)")
				}
			}
			task["note"] = append(list(task["note"]), map[string]any{"time": now, "text": text})
		}
		if write {
			task["lastModified"] = now
			r, err := fhir.ResourceFromObject(task)
			if err != nil {
				return err
			}
			if _, err := tx.Update(ctx, r, store.Precondition{IfMatch: tv.VersionID}); err != nil {
				return err
			}
		}
		stored, err = s.storeReceipt(ctx, tx, in, receipt, ref.practice)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.cfg.Log.LogAttrs(ctx, slog.LevelInfo, "bars referral "+ref.change, slog.String("task", taskID), slog.Bool("duplicate", duplicate),
		slog.Bool("renavigate", renav))
	if renav && !duplicate {
		again := *ref
		again.review = review
		s.navigateReferral(ctx, nav, in.Principal, &again, taskID)
	}
	return s.ack(ref.headerID, receipt, stored.LastUpdated.UTC().Format(fhir.InstantFormat))
}

// taskOutputCode is the code of a navigation Task's output of type typ.
func taskOutputCode(task map[string]any, outSys, typ string) string {
	for _, o := range list(task["output"]) {
		m, _ := o.(map[string]any)
		t, _ := m["type"].(map[string]any)
		is := false
		for _, c := range list(t["coding"]) {
			cm, _ := c.(map[string]any)
			is = is || (cm["system"] == outSys && cm["code"] == typ)
		}
		if !is {
			continue
		}
		v, _ := m["valueCodeableConcept"].(map[string]any)
		for _, c := range list(v["coding"]) {
			cm, _ := c.(map[string]any)
			if code, _ := cm["code"].(string); code != "" {
				return code
			}
		}
	}
	return ""
}

// revokeForCancel revokes a cancelled referral's current allocation (when
// still active, draft or on hold), sends the cancellation of the practice's
// own onward BaRS referral, and cancels the open clinician-review Tasks.
func (s *Service) revokeForCancel(ctx context.Context, tx store.Tx, nav Navigator, task map[string]any, why, now string) error {
	taskID, _ := task["id"].(string)
	practice := mapping.TaskOwnerODS(task)
	if typ, id := splitRef(taskAllocation(task)); typ == "ServiceRequest" && fhir.ValidID(id) {
		v, err := tx.Read(ctx, "ServiceRequest", id)
		switch {
		case err == nil:
			sr, err := decode(v.Body)
			if err != nil {
				return err
			}
			if st, _ := sr["status"].(string); st == "active" || st == "draft" || st == "on-hold" {
				sr["status"] = "revoked"
				sr["note"] = append(list(sr["note"]), map[string]any{"time": now, "text": "Revoked: the referral was cancelled. " + why})
				r, err := fhir.ResourceFromObject(sr)
				if err != nil {
					return err
				}
				w, err := tx.Update(ctx, r, store.Precondition{IfMatch: v.VersionID})
				if err != nil {
					return err
				}
				tb, err := json.Marshal(task)
				if err != nil {
					return err
				}
				if err := s.Enqueue(ctx, tx, practice, map[string][]byte{"task": tb, "revoked": w.Version.Body}); err != nil {
					return err
				}
			}
		case errors.Is(err, fhir.ErrNotFound), errors.Is(err, fhir.ErrDeleted):
		default:
			return err
		}
	}
	q, err := search.ParseQuery("Task", url.Values{
		"part-of": {"Task/" + taskID},
		"code":    {nav.Names().System(snomed.NavigationTask) + "|clinician-review"},
		"status":  {"requested,received,accepted,ready,in-progress,on-hold"},
	}, true)
	if err != nil {
		return err
	}
	page, err := tx.Search(ctx, q, store.PageRequest{Count: 100})
	if err != nil {
		return err
	}
	for _, m := range page.Matches {
		obj, err := decode(m.Body)
		if err != nil {
			return err
		}
		obj["status"] = "cancelled"
		obj["statusReason"] = map[string]any{"text": why}
		obj["lastModified"] = now
		r, err := fhir.ResourceFromObject(obj)
		if err != nil {
			return err
		}
		if _, err := tx.Update(ctx, r, store.Precondition{}); err != nil {
			return err
		}
	}
	return nil
}
