package navigation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/directory"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// navigateParams are the $navigate parameters (NAVIGATION-API.md).
var navigateParams = []string{"mode", "destination", "urgency", "consultation-mode", "note", "review"}

// navigateRequest is a parsed $navigate invocation.
type navigateRequest struct {
	propose bool
	choice  *mapping.NavigatorChoice
	note    string
	// review sends the decision to a clinician's review (safety rule 5).
	review bool
}

func parseNavigate(p *fhir.Parameters) (navigateRequest, error) {
	var out navigateRequest
	bad := func(name, format string, args ...any) error {
		return fhir.Errorf(fhir.CodeInvalid, "$navigate parameter %s: %s", name, fmt.Sprintf(format, args...)).At(name).Because(fhir.DetailMalformed)
	}
	names, err := directory.ParameterNames(p)
	if err != nil {
		return out, err
	}
	for _, n := range names {
		if !slices.Contains(navigateParams, n) {
			return out, bad(n, "unknown parameter (known: %s)", strings.Join(navigateParams, ", "))
		}
		if len(p.All(n)) > 1 {
			return out, bad(n, "given more than once")
		}
	}
	switch mode, _ := p.String("mode"); strings.TrimSpace(mode) {
	case "", "commit":
	case "propose":
		out.propose = true
	default:
		return out, bad("mode", "%q is not commit or propose", mode)
	}
	out.note, _ = p.String("note")
	if typ, v, ok := p.Value("review"); ok {
		b, isBool := v.(bool)
		if typ != "Boolean" || !isBool {
			return out, bad("review", "a valueBoolean is expected")
		}
		out.review = b
	}
	dest := ""
	if typ, v, ok := p.Value("destination"); ok {
		switch typ {
		case "Reference":
			m, _ := v.(map[string]any)
			dest, _ = m["reference"].(string)
		case "String", "Uri":
			dest, _ = v.(string)
		default:
			return out, bad("destination", "a valueReference to a HealthcareService or PractitionerRole is expected")
		}
		if dest == "" {
			return out, bad("destination", "the reference is empty")
		}
	}
	urgency, _ := p.String("urgency")
	mode, _ := p.String("consultation-mode")
	if dest == "" {
		if urgency != "" || mode != "" {
			return out, bad("destination", "urgency and consultation-mode are part of a navigator's own decision, which names its destination")
		}
		return out, nil
	}
	c := &mapping.NavigatorChoice{Destination: strings.TrimSpace(dest), Urgency: mapping.Urgency(strings.TrimSpace(urgency)), Mode: strings.TrimSpace(mode), Note: out.note}
	if c.Urgency != "" && !c.Urgency.Valid() {
		return out, bad("urgency", "%q is not a navigation-urgency code (emergency, same-day, within-week, routine)", urgency)
	}
	switch c.Mode {
	case "", mapping.ModeFaceToFace, mapping.ModeTelephone, mapping.ModeVideo, mapping.ModeOnlineMessage, mapping.ModeHomeVisit:
	default:
		return out, bad("consultation-mode", "%q is not face-to-face, telephone, video, online-message or home-visit", mode)
	}
	out.choice = c
	return out, nil
}

// Request is one Task/$navigate.
type Request struct {
	// ID is the navigation Task's id.
	ID string
	// Params are the $navigate parameters.
	Params *fhir.Parameters
	// Principal is the caller; the host has checked the operation's
	// permissions, the Task role rules are the decision's.
	Principal *auth.Principal
	// Audit, when not nil, records the $navigate's AuditEvent in the
	// commit's own transaction.
	Audit func(ctx context.Context, tx store.Tx) error
	// TurnedAway says the re-navigation follows a service turning the
	// patient away (a BaRS message): it is re-navigated as a decline is.
	TurnedAway bool
}

// Navigate is Task/$navigate: it decides (mapping), and unless the mode
// is propose commits the decision, and answers the Parameters.
func (nav *Service) Navigate(ctx context.Context, in Request) ([]byte, error) {
	began := time.Now()
	host := nav.host
	req, err := parseNavigate(in.Params)
	if err != nil {
		return nil, err
	}
	p := in.Principal
	g := host.Guard(p, host.Store())
	v, err := g.Read(ctx, "Task", in.ID)
	if err != nil {
		return nil, err
	}
	taskObj, err := decode(v.Body)
	if err != nil {
		return nil, err
	}
	if !nav.names.IsNavigationTask(taskObj) {
		return nil, fhir.Errorf(fhir.CodeBusinessRule, "Task/%s is not a navigation request (code %s#navigate)", in.ID, nav.names.System(snomed.NavigationTask)).Because(fhir.DetailRefused)
	}
	request, issues := mapping.ParseNavigationTask(taskObj, nav.names)
	if hasErrors(issues) {
		return nil, (&fhir.Error{Issues: errorIssues(issues)}).Because(fhir.DetailInvalidContent)
	}
	switch request.Status {
	case "requested", "received", "accepted", "ready", "in-progress", "on-hold":
	default:
		return nil, fhir.Errorf(fhir.CodeConflict, "Task/%s is %s: it can no longer be navigated", in.ID, request.Status)
	}
	// The Task role rules (docs/navigation.md): deciding is the owner's,
	// a clinician's, or, for the protocol's decision, the requester's. The
	// same rule holds the Task update below (its write check sees this
	// context).
	ctx = context.WithValue(ctx, navigateKey{}, navigateCall{automated: req.choice == nil, task: v})
	if is := mapping.CheckNavigate(taskObj, actorOf(ctx, taskObj)); is != nil {
		return nil, (&fhir.Error{Issues: []fhir.Issue{*is}}).Because(fhir.DetailNotPermitted)
	}
	clinician := p.HasRole(auth.RoleClinician)
	if (request.BusinessStatus == string(mapping.DispositionEscalated) || request.BusinessStatus == string(mapping.DispositionReview)) && !clinician && !p.Dev {
		return nil, fhir.Errorf(fhir.CodeConflict, "Task/%s awaits a clinician's review (businessStatus %s): only a clinician may navigate it now", in.ID, request.BusinessStatus)
	}
	now := nav.opts.Now()
	var warnings []fhir.Issue

	patient, ref, err := nav.patient(ctx, g, request.Patient)
	if err != nil {
		return nil, err
	}
	request.Patient = ref
	// The need group may come from the shared care record, the slowest
	// source of a decision (bounded by its client's timeout): it is asked
	// first and awaited last, so the decision's other reads take none of
	// that time. The channel is buffered: an early return leaves nothing
	// blocked.
	type needAnswer struct {
		need mapping.NeedGroup
		err  error
	}
	needCtx, cancelNeed := context.WithCancel(ctx)
	if b, ok := nav.needs.(lookupBudget); ok {
		// The record's timeout bounds the navigation's wait from when the
		// navigation began, not from when the lookup was asked: the time
		// the Task and patient reads took comes out of it. (An abandoned
		// lookup still finishes, within its own timeout, and is cached.)
		needCtx, cancelNeed = context.WithDeadline(ctx, began.Add(b.Timeout()))
	}
	defer cancelNeed()
	needCh := make(chan needAnswer, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				needCh <- needAnswer{err: fmt.Errorf("need group lookup failed: %v", r)}
			}
		}()
		n, err := nav.needs.NeedGroup(needCtx, ref, request.Practice)
		needCh <- needAnswer{n, err}
	}()
	earlier, histErr := nav.history.EarlierContacts(ctx, ref, request.Practice, now.Add(-nav.opts.RepeatWindow), request.TaskID)
	lists, err := nav.safetyLists(ctx)
	if err != nil {
		return nil, err
	}
	lex, err := nav.lexicon(ctx)
	if err != nil {
		return nil, err
	}
	proto, protoIssues, err := nav.protocol(ctx, request.Practice)
	if err != nil {
		return nil, err
	}
	warnings = append(warnings, protoIssues...)
	snap, err := nav.directory.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	cm, err := nav.allocationMap(ctx)
	if err != nil {
		return nil, err
	}
	var prior map[string]any
	var priorVersion int64
	var declined *mapping.Declined
	if typ, id := splitRef(request.PriorAllocation); typ == "ServiceRequest" && fhir.ValidID(id) {
		pv, err := g.Read(ctx, "ServiceRequest", id)
		switch {
		case err == nil:
			pm, err := decode(pv.Body)
			if err != nil {
				return nil, err
			}
			if st, _ := pm["status"].(string); st == "active" || st == "draft" || st == "on-hold" {
				prior, priorVersion = pm, pv.VersionID
			}
			if request.BusinessStatus == "declined" {
				declined = &mapping.Declined{Allocation: "ServiceRequest/" + id, Reason: request.StatusReason}
				// A service turning the patient away (a BaRS message) is
				// re-navigated as a decline is.
				declined.ByService = in.TurnedAway
				for _, x := range fhir.List(pm["performer"]) {
					xm, _ := x.(map[string]any)
					if r, _ := xm["reference"].(string); strings.HasPrefix(r, "HealthcareService/") {
						declined.Reference, _ = xm["reference"].(string)
						declined.Display, _ = xm["display"].(string)
					}
				}
				if declined.Display == "" {
					declined.Display = "ServiceRequest/" + id
				}
			}
		case errors.Is(err, fhir.ErrNotFound), errors.Is(err, fhir.ErrDeleted):
		default:
			return nil, err
		}
	}
	if req.choice != nil {
		if typ, id := splitRef(req.choice.Destination); typ == "PractitionerRole" {
			role, err := nav.role(ctx, g, id)
			if err != nil {
				return nil, err
			}
			req.choice.Role = role
		}
	}

	na := <-needCh
	need, needErr := na.need, na.err
	a := mapping.Assess(mapping.AssessInput{Request: request, Patient: patient, Need: need, NeedErr: needErr,
		Earlier: earlier, HistoryErr: histErr, Lists: lists, Lexicon: lex, Now: now})
	decider := deciderOf(p)
	d, err := nav.engine.Decide(mapping.DecideInput{Assessment: a, Protocol: proto, Candidates: snap.All(), OfPractice: snap.OfPractice, OfCategory: snap.OfCategory, OfTypeInCategory: snap.OfTypeInCategory, Navigator: req.choice, ManualReview: req.review,
		Decider: decider, AllocationMap: cm, Declined: declined, Now: now})
	if err != nil {
		return nil, err
	}
	if req.choice == nil && req.note != "" {
		d.Note = req.note
	}
	rec, err := nav.engine.Records(mapping.RecordInput{Decision: d, Task: taskObj, Prior: prior,
		AllocationID: uuid.NewString(), ProvenanceID: uuid.NewString(), ReviewID: uuid.NewString(),
		Proposal: req.propose, Now: now, Caller: decider, EngineIdentifierSystem: host.CanonicalBase() + "/Id/device"})
	if err != nil {
		return nil, err
	}
	// A service that takes BaRS referrals gets none when the patient
	// objected to sharing their details with it (Host.ReferralWithheld): the answer
	// says so.
	if !req.propose && rec.Allocation["status"] == "active" {
		if withheld, err := host.ReferralWithheld(ctx, taskObj, rec.Allocation); err != nil {
			return nil, err
		} else if withheld {
			why := "the patient did not agree to share their details with the service (input share-consent false)"
			warnings = append(warnings, fhir.Issue{Severity: fhir.SeverityWarning, Code: fhir.CodeProcessing,
				Diagnostics: "no BaRS referral is sent to the service: " + why + "; the patient contacts the service themselves"})
		}
	}
	// Every generated resource is R4 (strictly: the gateway wrote every
	// element) and passes the write checks; the Task keeps what the
	// client sent, so it is held to the lenient rules.
	type item struct {
		key    string
		obj    map[string]any
		strict bool
	}
	items := []item{{"task", rec.Task, false}, {"allocation", rec.Allocation, true}, {"provenance", rec.Provenance, true}}
	if rec.Review != nil {
		items = append(items, item{"review", rec.Review, true})
	}
	if rec.Revoked != nil && !req.propose {
		items = append(items, item{"revoked", rec.Revoked, false})
	}
	resources := map[string]*fhir.Resource{}
	for _, it := range items {
		r, err := fhir.ResourceFromObject(it.obj)
		if err != nil {
			return nil, err
		}
		if it.key != "task" && it.key != "review" {
			host.SetPracticeLabel(r, request.Practice)
		}
		if err := host.Validate(ctx, r, it.strict); err != nil {
			return nil, fmt.Errorf("navigation: the generated %s is not valid: %w", it.key, err)
		}
		resources[it.key] = r
	}
	// The answer carries the resources as built (propose) or as stored
	// (commit: ids, versions, labels), the stored bytes as they are.
	result := map[string]any{}
	for k, r := range resources {
		result[k] = r.Object()
	}
	if !req.propose {
		written, err := nav.commit(ctx, p, request.Practice, v, priorVersion, clinician && req.choice != nil, resources, in.Audit)
		if err != nil {
			return nil, err
		}
		for k, body := range written {
			result[k] = fhir.RawJSON(body)
		}
	}
	out := &fhir.Parameters{}
	out.AddResource("task", result["task"])
	out.AddResource("allocation", result["allocation"])
	out.AddResource("provenance", result["provenance"])
	if r, ok := result["review"]; ok {
		out.AddResource("review", r)
	}
	all := append(append([]fhir.Issue(nil), warnings...), d.Issues...)
	all = append(all, fhir.Issue{Severity: fhir.SeverityInformation, Code: fhir.CodeInformational,
		Diagnostics: fmt.Sprintf("%s: %s, %s, %s (%s)", d.Disposition.Text(), d.Category, d.Urgency, d.DestinationName(), modeWord(req.propose))})
	oo, err := decode(fhir.Outcome(all...))
	if err != nil {
		return nil, err
	}
	out.AddResource("issues", oo)
	host.Logger().LogAttrs(ctx, slog.LevelInfo, "navigation", slog.String("task", in.ID), slog.String("disposition", string(d.Disposition)),
		slog.String("category", string(d.Category)), slog.Bool("automated", d.Automated), slog.Bool("committed", !req.propose))
	return out.JSON()
}

func modeWord(propose bool) string {
	if propose {
		return "proposed only: nothing was stored"
	}
	return "committed"
}

func errorIssues(issues []fhir.Issue) []fhir.Issue {
	var out []fhir.Issue
	for _, is := range issues {
		if is.Severity == fhir.SeverityError || is.Severity == fhir.SeverityFatal {
			out = append(out, is)
		}
	}
	return out
}

// commit writes a decision in one transaction: the Task update (If-Match
// the version the decision read), the allocation, its Provenance, the
// clinician-review Task, the revoked earlier allocation, and, for a
// clinician's own decision, the completion of the open review Tasks.
// Either all of it is stored or none, and so is its delivery to the
// practice's clinical system (the outbox row: Host.EnqueueOutcome).
//
// audit, when not nil, records the $navigate's AuditEvent in the same
// transaction: a commit whose answer is lost (the database gone before
// the answer) is then never a change without its record, and never a
// record without its change.
func (nav *Service) commit(ctx context.Context, p *auth.Principal, practice string, taskRead store.Version, priorVersion int64, clinicianDecides bool, res map[string]*fhir.Resource, audit func(context.Context, store.Tx) error) (map[string][]byte, error) {
	host := nav.host
	var (
		written map[string][]byte
		// The Task as the committed attempt wrote it (its body is this
		// resource encoded), for the contact history.
		task    *fhir.Resource
		version int64
	)
	err := host.Store().Transaction(ctx, func(tx store.Tx) error {
		written = map[string][]byte{}
		g := host.Guard(p, tx)
		// The writes change only what the server owns (id, meta.versionId,
		// meta.lastUpdated), which each attempt sets afresh, so a retried
		// transaction writes the resources as built without copies.
		task = res["task"]
		// Over the version the decision was made from: a Task changed
		// meanwhile fails the commit, as If-Match does.
		w, err := g.UpdateRead(ctx, task, taskRead)
		if err != nil {
			return err
		}
		written["task"], version = w.Version.Body, w.Version.VersionID
		for _, k := range []string{"allocation", "provenance", "review"} {
			if res[k] == nil {
				continue
			}
			w, err := g.Create(ctx, res[k])
			if err != nil {
				return err
			}
			written[k] = w.Version.Body
		}
		if res["revoked"] != nil {
			w, err := g.Update(ctx, res["revoked"], store.Precondition{IfMatch: priorVersion})
			if err != nil {
				return err
			}
			written["revoked"] = w.Version.Body
		}
		if clinicianDecides {
			if err := nav.closeReviews(ctx, g, task.ID(), res["allocation"].ID()); err != nil {
				return err
			}
		}
		if err := host.EnqueueOutcome(ctx, g, practice, written); err != nil {
			return err
		}
		// A referral to a service that takes BaRS messages, and the
		// cancellation of the one this decision revoked (Host.EnqueueReferral): read
		// as the system, the directory's Endpoints being no caller's.
		if err := host.EnqueueReferral(ctx, tx, practice, written); err != nil {
			return err
		}
		if audit != nil {
			return audit(ctx, tx)
		}
		return nil
	})
	if err == nil {
		if h, ok := nav.history.(*storedHistory); ok {
			h.remember(task.ID(), version, task.Object())
		}
	}
	return written, err
}

// closeReviews completes the open clinician-review Tasks of a navigation
// Task: a clinician's decision supersedes what they were asked to review.
func (nav *Service) closeReviews(ctx context.Context, g store.Tx, taskID, allocationID string) error {
	q, err := search.ParseQuery("Task", url.Values{
		"part-of": {"Task/" + taskID},
		"code":    {nav.names.System(snomed.NavigationTask) + "|clinician-review"},
		"status":  {"requested,received,accepted,ready,in-progress,on-hold"},
	}, true)
	if err != nil {
		return err
	}
	page, err := g.Search(ctx, q, store.PageRequest{Count: 100})
	if err != nil {
		return err
	}
	// updateReview stores obj as the review Task's next version. R4
	// validation only: the write checks compare with the committed
	// version, which this transaction is changing.
	updateReview := func(obj map[string]any) error {
		r, err := fhir.ResourceFromObject(obj)
		if err != nil {
			return err
		}
		if err := r.Validate(fhir.ValidateOptions{}); err != nil {
			return err
		}
		_, err = g.Update(ctx, r, store.Precondition{})
		return err
	}
	now := nav.opts.Now().UTC().Format(fhir.InstantFormat)
	for _, v := range page.Matches {
		obj, err := decode(v.Body)
		if err != nil {
			return err
		}
		if st, _ := obj["status"].(string); st == "requested" || st == "received" || st == "accepted" || st == "ready" {
			obj["status"] = "in-progress" // the state machine's way to completed
			if err := updateReview(obj); err != nil {
				return err
			}
		}
		obj["status"] = "completed"
		obj["lastModified"] = now
		obj["output"] = []any{map[string]any{
			"type":           map[string]any{"coding": []any{map[string]any{"system": nav.names.System(snomed.NavigationOutput), "code": "allocation"}}},
			"valueReference": map[string]any{"reference": "ServiceRequest/" + allocationID, "display": "The clinician's decision"},
		}}
		if err := updateReview(obj); err != nil {
			return err
		}
	}
	return nil
}

func codingOf(m map[string]any) snomed.Coding {
	s := func(k string) string { v, _ := m[k].(string); return v }
	return snomed.Coding{System: s("system"), Version: s("version"), Code: s("code"), Display: s("display")}
}

// deciderOf is the caller as the engine's Decider.
func deciderOf(p *auth.Principal) mapping.Decider {
	d := mapping.Decider{System: p.Issuer, Value: p.Subject, Display: p.Subject, Tier: string(p.Tier), Clinician: p.HasRole(auth.RoleClinician)}
	if p.Dev {
		d.System, d.Display = "urn:signpost:development", "the developer (development mode)"
	}
	if p.HasRole(auth.RoleNavigator) || p.HasRole(auth.RoleClinician) {
		d.Type = "Practitioner"
	} else {
		d.Type = "Device" // a system client: an online consultation tool, a telephony template
	}
	return d
}

// splitRef reads Type/id.
func splitRef(ref string) (string, string) {
	parts := strings.Split(strings.TrimSpace(ref), "/")
	if len(parts) != 2 {
		return "", ""
	}
	return parts[0], parts[1]
}

// patient reads the patient's demographics: the Patient the Task
// references, or the one Patient with its NHS number. Unknown is not an
// error: the engine treats unknown age and sex conservatively.
func (nav *Service) patient(ctx context.Context, g store.Tx, ref mapping.PatientRef) (mapping.Patient, mapping.PatientRef, error) {
	var body []byte
	if typ, id := splitRef(ref.Reference); typ == "Patient" {
		v, err := g.Read(ctx, "Patient", id)
		switch {
		case err == nil:
			body = v.Body
		case errors.Is(err, fhir.ErrNotFound), errors.Is(err, fhir.ErrDeleted):
		default:
			return mapping.Patient{}, ref, err
		}
	}
	if body == nil && ref.NHSNumber != "" {
		q, err := search.ParseQuery("Patient", url.Values{"identifier": {mapping.NHSNumberSystem + "|" + ref.NHSNumber}}, true)
		if err != nil {
			return mapping.Patient{}, ref, err
		}
		page, err := g.Search(ctx, q, store.PageRequest{Count: 2})
		if err != nil {
			return mapping.Patient{}, ref, err
		}
		if len(page.Matches) == 1 {
			body = page.Matches[0].Body
			if ref.Reference == "" {
				ref.Reference = "Patient/" + page.Matches[0].ID
			}
		}
	}
	if body == nil {
		return mapping.Patient{}, ref, nil
	}
	obj, err := decode(body)
	if err != nil {
		return mapping.Patient{}, ref, err
	}
	// The patient in both forms: earlier Tasks may name them by NHS
	// number or by reference, and the repeat-contact search asks for both.
	if ref.NHSNumber == "" {
		for _, x := range fhir.List(obj["identifier"]) {
			xm, _ := x.(map[string]any)
			if sys, _ := xm["system"].(string); sys == mapping.NHSNumberSystem {
				if v, _ := xm["value"].(string); v != "" {
					ref.NHSNumber = v
					break
				}
			}
		}
	}
	var pt mapping.Patient
	if bd, _ := obj["birthDate"].(string); len(bd) == 10 {
		pt.BirthDate, _ = time.ParseInLocation("2006-01-02", bd, mapping.London)
	}
	if sex, _ := obj["gender"].(string); sex != "unknown" {
		pt.Sex = sex
	}
	for _, a := range fhir.List(obj["address"]) {
		am, _ := a.(map[string]any)
		if pc, _ := am["postalCode"].(string); pc != "" && pt.Postcode == "" {
			pt.Postcode = pc
		}
	}
	return pt, ref, nil
}

// role reads a PractitionerRole destination.
func (nav *Service) role(ctx context.Context, g store.Tx, id string) (*mapping.RoleInfo, error) {
	v, err := g.Read(ctx, "PractitionerRole", id)
	if err != nil {
		if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
			return nil, fhir.Errorf(fhir.CodeBusinessRule, "destination PractitionerRole/%s does not exist", id).At("destination").Because(fhir.DetailRefused)
		}
		return nil, err
	}
	obj, err := decode(v.Body)
	if err != nil {
		return nil, err
	}
	ri := &mapping.RoleInfo{ID: id, Active: true}
	if b, ok := obj["active"].(bool); ok {
		ri.Active = b
	}
	for _, cc := range fhir.List(obj["code"]) {
		m, _ := cc.(map[string]any)
		for _, c := range fhir.List(m["coding"]) {
			cm, _ := c.(map[string]any)
			ri.Codes = append(ri.Codes, codingOf(cm))
			if ri.Display == "" {
				ri.Display, _ = cm["display"].(string)
			}
		}
	}
	if pr, ok := obj["practitioner"].(map[string]any); ok {
		if d, _ := pr["display"].(string); d != "" {
			ri.Display = strings.TrimSpace(d + " (" + ri.Display + ")")
		}
	}
	return ri, nil
}
