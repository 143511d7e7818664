package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/directory"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/internal/vcache"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/mapping/freetext"
	"github.com/signpost-fhir/signpost/snomed"
)

// Care navigation over HTTP (docs/navigation.md): the write checks of the
// navigation contract and the practice protocol, and Task/$navigate. The
// decision itself is mapping's (pure); this file gathers what it needs —
// the Task, the patient, the need group, earlier contacts, the practice's
// protocol, the directory, the allocation ConceptMap, the red-flag list —
// and commits the result in one store transaction.

// NavigationOptions configures care navigation.
type NavigationOptions struct {
	// Terminology is required: the allocation ConceptMap and the
	// red-flag value set are read through it.
	Terminology *snomed.Terminology
	// NeedGroups finds the patient need group. Nil: the need-group
	// Observation stored for the patient (newest, not older than
	// NeedGroupMaxAge) and the need-group findings among the patient's
	// stored Conditions. The shared care record client plugs in here.
	NeedGroups mapping.NeedGroupSource
	// NeedGroupMaxAge is when a stored need group is too old to use
	// (default 365 days).
	NeedGroupMaxAge time.Duration
	// RepeatWindow is how far back earlier contacts about the same
	// problem are counted (default 28 days).
	RepeatWindow time.Duration
	// Now is the clock of decisions (timeframes, ages); default the
	// server's.
	Now func() time.Time
	// Holidays tells bank holidays; nil is England and Wales.
	Holidays func(y int, m time.Month, d int) bool
	// DemoDir, when set, seeds the demonstration content of that folder
	// (testdata/protocols: the Y99999 protocol, a directory, patients) at
	// registration, idempotently; an administrator's edits are kept.
	DemoDir string
}

// navigation is what RegisterNavigation sets up.
type navigation struct {
	s         *Server
	opts      NavigationOptions
	names     mapping.NavigationNames
	engine    *mapping.Engine
	term      *snomed.Terminology
	directory *directory.Cache
	needs     mapping.NeedGroupSource
	history   mapping.ContactHistory

	// The decision's configuration, each derived once per stored
	// version (keyed by practice for protocols, "" for the others).
	protocols *vcache.Cache[string, practiceProtocol]
	lists     *vcache.Cache[string, *mapping.SafetyLists]
	lex       *vcache.Cache[string, *freetext.Lexicon]
	cmap      *vcache.Cache[string, *snomed.ConceptMap]

	mu sync.Mutex
	// unsettled is until when a write of the decision's configuration
	// (a protocol, ConceptMap or ValueSet) through this process may still
	// be committing: until then every decision reads it from the store.
	unsettled time.Time
}

// configRecheck is how long a decision uses the protocol, allocation
// ConceptMap and red-flag ValueSet it last read without asking the store
// whether they changed: three reads fewer per navigation. A change made
// through this process applies to the next decision (writes mark the
// cache unsettled); one made through another gateway process within
// configRecheck.
const configRecheck = time.Second

// fresh reports whether an entry checked against the store at checked
// may be used without checking again.
func (nav *navigation) fresh(checked time.Time) bool {
	now := time.Now()
	nav.mu.Lock()
	defer nav.mu.Unlock()
	return !checked.IsZero() && now.Sub(checked) < configRecheck && now.After(nav.unsettled)
}

// unsettle is the write check of the decision's configuration resources:
// it never refuses, it makes decisions read them from the store until
// the write has surely committed or failed (the request timeout).
func (nav *navigation) unsettle(context.Context, *fhir.Resource, bool) ([]fhir.Issue, error) {
	window := nav.s.opts.RequestTimeout
	if window <= 0 {
		window = time.Minute
	}
	nav.mu.Lock()
	nav.unsettled = time.Now().Add(window)
	nav.mu.Unlock()
	return nil, nil
}

// practiceProtocol is a practice's compiled protocol (nil: none, or one
// that does not compile, which issues then say).
type practiceProtocol struct {
	protocol *mapping.Protocol
	issues   []fhir.Issue
}

// RegisterNavigation serves care navigation: PlanDefinition (the practice
// protocols: read, write, history; no search), the write checks of
// navigation Tasks (the contract and the R4 state machine) and of
// protocols, and Task/$navigate. Call once, before Handler.
func (s *Server) RegisterNavigation(ctx context.Context, opts NavigationOptions) error {
	if opts.Terminology == nil {
		return errors.New("navigation: a Terminology is required")
	}
	if opts.NeedGroupMaxAge <= 0 {
		opts.NeedGroupMaxAge = 365 * 24 * time.Hour
	}
	if opts.RepeatWindow <= 0 {
		opts.RepeatWindow = 28 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = s.opts.Now
	}
	base := s.opts.CanonicalBase
	engine := mapping.NewEngine(base)
	engine.Holidays = opts.Holidays
	nav := &navigation{s: s, opts: opts, names: mapping.NewNavigationNames(base), engine: engine, term: opts.Terminology}
	nav.protocols = vcache.New[string, practiceProtocol](nav.fresh)
	nav.lists = vcache.New[string, *mapping.SafetyLists](nav.fresh)
	nav.lex = vcache.New[string, *freetext.Lexicon](nav.fresh)
	nav.cmap = vcache.New[string, *snomed.ConceptMap](nav.fresh)
	// The directory cache compares store timestamps, so it runs on the
	// wall clock whatever clock decisions use.
	nav.directory = s.newDirectoryCache(engine.Directory, 2*time.Minute, time.Now)
	nav.needs = opts.NeedGroups
	if nav.needs == nil {
		nav.needs = &storedNeedGroups{nav: nav}
	}
	nav.history = &storedHistory{nav: nav}

	s.registry.Serve("PlanDefinition", allInteractions...)
	s.RegisterWriteCheck("Task", nav.checkTask)
	s.RegisterWriteCheck("PlanDefinition", nav.checkProtocol)
	s.RegisterWriteCheck("CodeSystem", nav.checkLexicon)
	if err := nav.seedLexicon(ctx); err != nil {
		return err
	}
	for _, typ := range []string{"PlanDefinition", "ConceptMap", "ValueSet"} {
		s.RegisterWriteCheck(typ, nav.unsettle)
	}
	s.RegisterOperation(Operation{
		Name: "navigate", Level: InstanceLevel, Type: "Task",
		Definition: base + "/OperationDefinition/Task-navigate",
		Permissions: []Permission{
			{"Task", auth.Read}, {"Task", auth.Update}, {"ServiceRequest", auth.Create},
			{"Provenance", auth.Create}, {"HealthcareService", auth.Read},
		},
		Run: nav.navigate,
	})
	s.registerBaRSReceiver(nav)
	if opts.DemoDir != "" {
		if err := nav.seedDemo(ctx, opts.DemoDir); err != nil {
			return fmt.Errorf("navigation demo: %w", err)
		}
	}
	return nil
}

// navigateKey marks the context of $navigate's own write of the
// navigation Task (navigateCall).
type navigateKey struct{}

// navigateCall says a write is $navigate's update of the Task, and
// whether the protocol decides (no destination): the Task role rules let
// a request's requester ask for the protocol's decision.
type navigateCall struct {
	automated bool
	// task is the stored version of the Task $navigate read: the commit
	// updates it If-Match that version, so its write check compares with
	// it instead of reading it again.
	task store.Version
}

// navActor is the write's caller as the navigation rules see it, for the
// stored Task it changes: the owner and clinician roles count only for
// the practice that owns it.
func navActor(ctx context.Context, stored map[string]any) mapping.Actor {
	p, ok := auth.FromContext(ctx)
	if !ok || p == nil {
		return mapping.Actor{}
	}
	a := mapping.Actor{Issuer: p.Issuer, Subject: p.Subject, Dev: p.Dev}
	if practice := mapping.TaskOwnerODS(stored); practice != "" && p.CanSeePractice(practice) {
		a.Owner = p.HasRole(auth.RoleNavigator)
		a.Clinician = p.HasRole(auth.RoleClinician)
	}
	if c, ok := ctx.Value(navigateKey{}).(navigateCall); ok {
		a.Navigate, a.Automated = true, c.automated
	}
	return a
}

// checkTask is the write check of navigation and clinician-review Tasks.
// It reads the stored version for the state machine and the Task role
// rules, outside the write's transaction: a concurrent update without
// If-Match is not ordered against it (docs/navigation.md). A create whose
// body carries the id of a stored Task is checked as an update of it (the
// server ignores body ids on create, so this only makes the check
// stricter). A stored Task the caller may not see is not compared with
// (the write is checked as a create): tenancy answers an update of it
// with 404, without saying whether it exists.
func (nav *navigation) checkTask(ctx context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
	obj := r.Object()
	if !nav.names.IsNavigationTask(obj) && !nav.names.IsReviewTask(obj) && r.ID() == "" {
		return nil, nil
	}
	var stored map[string]any
	if id := r.ID(); id != "" {
		var v store.Version
		var err error
		if c, ok := ctx.Value(navigateKey{}).(navigateCall); ok && c.task.ID == id && c.task.Body != nil {
			v = c.task
		} else {
			v, err = nav.s.store.Read(ctx, "Task", id)
		}
		switch {
		case err == nil:
			if p, ok := auth.FromContext(ctx); ok && !nav.s.visible(p, "Task", v.Body) {
				// Checked as new; an update of it is tenancy's 404.
				break
			}
			if stored, err = navDecode(v.Body); err != nil {
				return nil, err
			}
		case errors.Is(err, fhir.ErrNotFound), errors.Is(err, fhir.ErrDeleted):
		default:
			return nil, err
		}
	}
	issues := mapping.CheckNavigationTask(obj, stored, navActor(ctx, stored), nav.names)
	var forbidden []fhir.Issue
	for _, is := range issues {
		if is.Code == fhir.CodeForbidden && is.Severity == fhir.SeverityError {
			forbidden = append(forbidden, is)
		}
	}
	if len(forbidden) > 0 {
		// Who may make a change is a 403, not invalid content.
		return nil, (&fhir.Error{Issues: forbidden}).WithStatus(http.StatusForbidden)
	}
	return issues, nil
}

// checkProtocol is the write check of PlanDefinitions: a navigation
// protocol must compile, and only an administrator acting for its
// practice may load one.
func (nav *navigation) checkProtocol(ctx context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
	obj := r.Object()
	issues := mapping.CheckProtocol(obj, nav.names)
	if !nav.names.IsNavigationProtocol(obj) || navHasErrors(issues) {
		return issues, nil
	}
	p, _ := auth.FromContext(ctx)
	practice := strings.TrimPrefix(r.ID(), mapping.ProtocolIDPrefix)
	if p == nil || !(p.Dev || (p.HasRole(auth.RoleAdmin) && p.CanSeePractice(practice))) {
		return nil, fhir.Errorf(fhir.CodeForbidden, "only an administrator acting for practice %s may load its navigation protocol", practice)
	}
	return issues, nil
}

func navHasErrors(issues []fhir.Issue) bool {
	for _, is := range issues {
		if is.Severity == fhir.SeverityError || is.Severity == fhir.SeverityFatal {
			return true
		}
	}
	return false
}

func navDecode(body []byte) (map[string]any, error) {
	v, err := fhir.DecodeJSON(body)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("navigation: a stored body is not an object")
	}
	return m, nil
}

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
		return fhir.Errorf(fhir.CodeInvalid, "$navigate parameter %s: %s", name, fmt.Sprintf(format, args...)).At(name).WithStatus(http.StatusBadRequest)
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

// navigate is Task/$navigate.
func (nav *navigation) navigate(ctx context.Context, in OperationInput) ([]byte, error) {
	began := time.Now()
	s := nav.s
	req, err := parseNavigate(in.Params)
	if err != nil {
		return nil, err
	}
	p := in.Principal
	g := s.guard(p, s.store)
	v, err := g.Read(ctx, "Task", in.ID)
	if err != nil {
		return nil, err
	}
	taskObj, err := navDecode(v.Body)
	if err != nil {
		return nil, err
	}
	if !nav.names.IsNavigationTask(taskObj) {
		return nil, fhir.Errorf(fhir.CodeBusinessRule, "Task/%s is not a navigation request (code %s#navigate)", in.ID, nav.names.System(snomed.NavigationTask)).WithStatus(http.StatusUnprocessableEntity)
	}
	request, issues := mapping.ParseNavigationTask(taskObj, nav.names)
	if navHasErrors(issues) {
		return nil, &fhir.Error{Status: http.StatusUnprocessableEntity, Issues: navErrorIssues(issues)}
	}
	switch request.Status {
	case "requested", "received", "accepted", "ready", "in-progress", "on-hold":
	default:
		return nil, fhir.Errorf(fhir.CodeConflict, "Task/%s is %s: it can no longer be navigated", in.ID, request.Status).WithStatus(http.StatusConflict)
	}
	// The Task role rules (docs/navigation.md): deciding is the owner's,
	// a clinician's, or, for the protocol's decision, the requester's. The
	// same rule holds the Task update below (its write check sees this
	// context).
	ctx = context.WithValue(ctx, navigateKey{}, navigateCall{automated: req.choice == nil, task: v})
	if is := mapping.CheckNavigate(taskObj, navActor(ctx, taskObj)); is != nil {
		return nil, (&fhir.Error{Issues: []fhir.Issue{*is}}).WithStatus(http.StatusForbidden)
	}
	clinician := p.HasRole(auth.RoleClinician)
	if (request.BusinessStatus == string(mapping.DispositionEscalated) || request.BusinessStatus == string(mapping.DispositionReview)) && !clinician && !p.Dev {
		return nil, fhir.Errorf(fhir.CodeConflict, "Task/%s awaits a clinician's review (businessStatus %s): only a clinician may navigate it now", in.ID, request.BusinessStatus).WithStatus(http.StatusConflict)
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
	if typ, id := navSplitRef(request.PriorAllocation); typ == "ServiceRequest" && fhir.ValidID(id) {
		pv, err := g.Read(ctx, "ServiceRequest", id)
		switch {
		case err == nil:
			pm, err := navDecode(pv.Body)
			if err != nil {
				return nil, err
			}
			if st, _ := pm["status"].(string); st == "active" || st == "draft" || st == "on-hold" {
				prior, priorVersion = pm, pv.VersionID
			}
			if request.BusinessStatus == "declined" {
				declined = &mapping.Declined{Allocation: "ServiceRequest/" + id, Reason: request.StatusReason}
				// A service turning the patient away (barsreceive.go) is
				// re-navigated as a decline is.
				declined.ByService, _ = ctx.Value(barsTurnedAwayKey{}).(bool)
				for _, x := range listOf(pm["performer"]) {
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
		if typ, id := navSplitRef(req.choice.Destination); typ == "PractitionerRole" {
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
	decider := navDecider(p)
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
		Proposal: req.propose, Now: now, Caller: decider, EngineIdentifierSystem: s.opts.CanonicalBase + "/Id/device"})
	if err != nil {
		return nil, err
	}
	// A service that takes BaRS referrals gets none when the patient
	// objected to sharing their details with it (bars.go): the answer
	// says so.
	if c := shareConsent(taskObj); !req.propose && rec.Allocation["status"] == "active" && c != nil && !*c {
		if _, ok, err := s.barsTargetOf(ctx, s.store, rec.Allocation); err != nil {
			return nil, err
		} else if ok {
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
			s.setPracticeLabel(r, request.Practice)
		}
		if err := s.validate(ctx, r, it.strict); err != nil {
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
		written, err := nav.commit(ctx, p, request.Practice, v, priorVersion, clinician && req.choice != nil, resources, in.AuditIn)
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
		Diagnostics: fmt.Sprintf("%s: %s, %s, %s (%s)", d.Disposition.Text(), d.Category, d.Urgency, d.DestinationName(), navModeWord(req.propose))})
	oo, err := navDecode(fhir.Outcome(all...))
	if err != nil {
		return nil, err
	}
	out.AddResource("issues", oo)
	s.log.LogAttrs(ctx, slog.LevelInfo, "navigation", slog.String("task", in.ID), slog.String("disposition", string(d.Disposition)),
		slog.String("category", string(d.Category)), slog.Bool("automated", d.Automated), slog.Bool("committed", !req.propose))
	return out.JSON()
}

func navModeWord(propose bool) string {
	if propose {
		return "proposed only: nothing was stored"
	}
	return "committed"
}

func navErrorIssues(issues []fhir.Issue) []fhir.Issue {
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
// practice's clinical system (the outbox row; see delivery.go).
//
// audit, when not nil, records the $navigate's AuditEvent in the same
// transaction: a commit whose answer is lost (the database gone before
// the answer) is then never a change without its record, and never a
// record without its change.
func (nav *navigation) commit(ctx context.Context, p *auth.Principal, practice string, taskRead store.Version, priorVersion int64, clinicianDecides bool, res map[string]*fhir.Resource, audit func(context.Context, store.Tx) error) (map[string][]byte, error) {
	s := nav.s
	var (
		written map[string][]byte
		// The Task as the committed attempt wrote it (its body is this
		// resource encoded), for the contact history.
		task    *fhir.Resource
		version int64
	)
	err := s.store.Transaction(ctx, func(tx store.Tx) error {
		written = map[string][]byte{}
		g := s.guard(p, tx)
		// The writes change only what the server owns (id, meta.versionId,
		// meta.lastUpdated), which each attempt sets afresh, so a retried
		// transaction writes the resources as built without copies.
		task = res["task"]
		// Over the version the decision was made from: a Task changed
		// meanwhile fails the commit (412).
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
		if err := s.enqueueOutcome(ctx, g, practice, written); err != nil {
			return err
		}
		// A referral to a service that takes BaRS messages, and the
		// cancellation of the one this decision revoked (bars.go): read
		// as the system, the directory's Endpoints being no caller's.
		if err := s.enqueueBaRS(ctx, tx, practice, written); err != nil {
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
func (nav *navigation) closeReviews(ctx context.Context, g store.Tx, taskID, allocationID string) error {
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
		obj, err := navDecode(v.Body)
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

// deciderOf is the caller as the engine's Decider.
func navDecider(p *auth.Principal) mapping.Decider {
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
func navSplitRef(ref string) (string, string) {
	parts := strings.Split(strings.TrimSpace(ref), "/")
	if len(parts) != 2 {
		return "", ""
	}
	return parts[0], parts[1]
}

// patient reads the patient's demographics: the Patient the Task
// references, or the one Patient with its NHS number. Unknown is not an
// error: the engine treats unknown age and sex conservatively.
func (nav *navigation) patient(ctx context.Context, g store.Tx, ref mapping.PatientRef) (mapping.Patient, mapping.PatientRef, error) {
	var body []byte
	if typ, id := navSplitRef(ref.Reference); typ == "Patient" {
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
	obj, err := navDecode(body)
	if err != nil {
		return mapping.Patient{}, ref, err
	}
	// The patient in both forms: earlier Tasks may name them by NHS
	// number or by reference, and the repeat-contact search asks for both.
	if ref.NHSNumber == "" {
		for _, x := range listOf(obj["identifier"]) {
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
	for _, a := range listOf(obj["address"]) {
		am, _ := a.(map[string]any)
		if pc, _ := am["postalCode"].(string); pc != "" && pt.Postcode == "" {
			pt.Postcode = pc
		}
	}
	return pt, ref, nil
}

// role reads a PractitionerRole destination.
func (nav *navigation) role(ctx context.Context, g store.Tx, id string) (*mapping.RoleInfo, error) {
	v, err := g.Read(ctx, "PractitionerRole", id)
	if err != nil {
		if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
			return nil, fhir.Errorf(fhir.CodeBusinessRule, "destination PractitionerRole/%s does not exist", id).At("destination").WithStatus(http.StatusUnprocessableEntity)
		}
		return nil, err
	}
	obj, err := navDecode(v.Body)
	if err != nil {
		return nil, err
	}
	ri := &mapping.RoleInfo{ID: id, Active: true}
	if b, ok := obj["active"].(bool); ok {
		ri.Active = b
	}
	for _, cc := range listOf(obj["code"]) {
		m, _ := cc.(map[string]any)
		for _, c := range listOf(m["coding"]) {
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

// protocol is the practice's protocol, compiled once per stored version.
// A stored protocol that no longer compiles (written before a check, or
// edited in the database) is not used: the decision falls back to a
// practice clinician, with a warning.
func (nav *navigation) protocol(ctx context.Context, practice string) (*mapping.Protocol, []fhir.Issue, error) {
	if practice == "" {
		return nil, nil, nil
	}
	id := mapping.ProtocolID(practice)
	var v store.Version
	pp, err := nav.protocols.Get(practice, func() (int64, error) {
		var err error
		v, err = nav.s.store.Read(ctx, "PlanDefinition", id)
		if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
			return 0, nil
		}
		return v.VersionID, err
	}, func(version int64) (practiceProtocol, error) {
		if version == 0 {
			return practiceProtocol{}, nil
		}
		obj, err := navDecode(v.Body)
		if err != nil {
			return practiceProtocol{}, err
		}
		p, issues := mapping.ParseProtocol(obj, nav.names)
		if navHasErrors(issues) {
			return practiceProtocol{issues: []fhir.Issue{{Severity: fhir.SeverityWarning, Code: fhir.CodeProcessing,
				Diagnostics: fmt.Sprintf("the stored protocol PlanDefinition/%s/_history/%d does not compile (%s): it is not used", id, v.VersionID, navErrorIssues(issues)[0].Diagnostics)}}}, nil
		}
		return practiceProtocol{protocol: p}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return pp.protocol, pp.issues, nil
}

// allocationMap is the allocation ConceptMap as Terminology.AllocationMap
// reads it, parsed once per stored version: a PUT of the map is a new
// version, used by the next decision.
func (nav *navigation) allocationMap(ctx context.Context) (*snomed.ConceptMap, error) {
	var v store.Version
	unread := errors.New("the allocation ConceptMap is not read from the store")
	cm, err := nav.cmap.Get("", func() (int64, error) {
		var err error
		if v, err = nav.s.store.Read(ctx, "ConceptMap", snomed.AllocationMap); err != nil {
			return 0, unread
		}
		return v.VersionID, nil
	}, func(int64) (*snomed.ConceptMap, error) {
		r, err := fhir.ParseResource(v.Body)
		if err != nil {
			return nil, err
		}
		return snomed.ParseConceptMap(r)
	})
	if errors.Is(err, unread) {
		// Not found, deleted, or the store failing: as the terminology
		// reports it.
		return nav.term.AllocationMap(ctx, nav.s.store)
	}
	return cm, err
}

// safetyLists are the shipped lists with the red-flag value set of the
// store added (never less than the shipped red flags), expanded once per
// stored version of the value set.
func (nav *navigation) safetyLists(ctx context.Context) (*mapping.SafetyLists, error) {
	return nav.lists.Get("", func() (int64, error) {
		v, err := nav.s.store.Read(ctx, "ValueSet", snomed.RedFlagFindingVS)
		if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
			return 0, nil
		}
		return v.VersionID, err
	}, func(version int64) (*mapping.SafetyLists, error) {
		if version == 0 {
			return mapping.DefaultSafetyLists(nil), nil
		}
		exp, err := nav.term.Expand(ctx, nav.s.store, snomed.ExpandRequest{ID: snomed.RedFlagFindingVS})
		if err != nil {
			return nil, err
		}
		extra := map[string]string{}
		for _, e := range exp.Contains {
			if e.System == snomed.System && !e.Inactive {
				extra[e.Code] = e.Display
			}
		}
		return mapping.DefaultSafetyLists(extra), nil
	})
}

// storedHistory is the ContactHistory of stored Tasks: the patient's
// navigation Tasks at the practice authored in the window.
//
// The query asks only for the patient and the window, the two things
// that make it selective; whether an earlier Task is a navigation Task and
// belongs to the practice is checked here, on the parsed version. Asked
// for the code and the practice label as well, PostgreSQL has to join
// them with every Task of the practice (they all have both), and on
// statistics that lag behind a growing table it picks a plan that reads
// them all once per earlier Task of the patient (14.7 ms a navigation at
// 1,700 Tasks, growing with every one).
//
// What a Task contributes (authored-on, problem, symptoms, whether it
// counts) is parsed once per stored version: a version's body never
// changes, so the parse is kept by id and version, and a Task's update is
// a new key.
type storedHistory struct {
	nav *navigation

	mu     sync.Mutex
	parsed map[historyKey]parsedContact
}

type historyKey struct {
	id      string
	version int64
}

// parsedContact is what one stored Task version says for the history.
type parsedContact struct {
	contact mapping.EarlierContact
	// navigation: the Task's code is the navigation Task code.
	navigation bool
	// practices are the codes of its practice security labels.
	practices []string
}

// maxParsedHistory bounds the parsed-Task cache; when full it starts
// afresh (a day's Tasks at a busy gateway fit comfortably).
const maxParsedHistory = 50000

// parse is what a stored Task version says for the history.
func (h *storedHistory) parse(v store.Version) (parsedContact, error) {
	k := historyKey{v.ID, v.VersionID}
	h.mu.Lock()
	p, ok := h.parsed[k]
	h.mu.Unlock()
	if ok && v.VersionID > 0 {
		return p, nil
	}
	obj, err := navDecode(v.Body)
	if err != nil {
		return parsedContact{}, err
	}
	return h.remember(v.ID, v.VersionID, obj), nil
}

// remember parses obj, version of Task id, for the history and keeps it
// (version 0, not stored, is not kept). The navigation commit gives it
// the Task it has just written, which it would otherwise decode again
// from the stored body the next time the patient calls.
func (h *storedHistory) remember(id string, version int64, obj map[string]any) parsedContact {
	var p parsedContact
	r, _ := mapping.ParseNavigationTask(obj, h.nav.names)
	p.contact = mapping.EarlierContact{TaskID: id, AuthoredOn: r.AuthoredOn, Problem: r.Problem}
	for _, s := range r.Symptoms {
		p.contact.Symptoms = append(p.contact.Symptoms, s.Code)
	}
	p.navigation = h.nav.names.IsNavigationTask(obj)
	practiceSystem := h.nav.s.practiceSystem()
	meta, _ := obj["meta"].(map[string]any)
	for _, l := range listOf(meta["security"]) {
		lm, _ := l.(map[string]any)
		if sys, _ := lm["system"].(string); sys == practiceSystem {
			if c, _ := lm["code"].(string); c != "" {
				p.practices = append(p.practices, c)
			}
		}
	}
	if version > 0 {
		h.mu.Lock()
		if h.parsed == nil || len(h.parsed) >= maxParsedHistory {
			h.parsed = map[historyKey]parsedContact{}
		}
		h.parsed[historyKey{id, version}] = p
		h.mu.Unlock()
	}
	return p
}

var _ mapping.ContactHistory = (*storedHistory)(nil)

// maxEarlier bounds how many earlier Tasks are read.
const maxEarlier = 200

func (h *storedHistory) EarlierContacts(ctx context.Context, patient mapping.PatientRef, practice string, since time.Time, exclude string) ([]mapping.EarlierContact, error) {
	var crits []url.Values
	base := func() url.Values {
		return url.Values{
			"authored-on": {"ge" + since.UTC().Format(time.RFC3339)},
			"_sort":       {"-authored-on"},
		}
	}
	if patient.Reference != "" {
		q := base()
		q.Set("subject", patient.Reference)
		crits = append(crits, q)
	}
	if patient.NHSNumber != "" {
		q := base()
		q.Set("subject:identifier", mapping.NHSNumberSystem+"|"+patient.NHSNumber)
		crits = append(crits, q)
	}
	seen := map[string]bool{exclude: true}
	var out []mapping.EarlierContact
	read := 0
	for _, crit := range crits {
		q, err := search.ParseQuery("Task", crit, true)
		if err != nil {
			return nil, err
		}
		page := store.PageRequest{Count: 100}
		for read < maxEarlier {
			res, err := h.nav.s.store.Search(ctx, q, page)
			if err != nil {
				return nil, err
			}
			for _, v := range res.Matches {
				if seen[v.ID] {
					continue
				}
				seen[v.ID] = true
				read++
				p, err := h.parse(v)
				if err != nil {
					return nil, err
				}
				if !p.navigation || !slices.Contains(p.practices, practice) {
					continue
				}
				e := p.contact
				e.Symptoms = slices.Clone(e.Symptoms) // the caller's to keep
				out = append(out, e)
			}
			if res.Next == "" {
				break
			}
			page.Cursor = res.Next
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AuthoredOn.After(out[j].AuthoredOn) })
	return out, nil
}

// storedNeedGroups is the default NeedGroupSource: the newest need-group
// Observation stored for the patient (an Observation whose
// valueCodeableConcept has a patient-need-group coding), unless older
// than NeedGroupMaxAge, and the need-group findings (severe mental
// illness, palliative care, learning disability, frailty registers) among
// the patient's active Conditions.
type storedNeedGroups struct{ nav *navigation }

var _ mapping.NeedGroupSource = (*storedNeedGroups)(nil)

// lookupBudget is a need-group source with a timeout of its own (the
// shared care record client): navigate stops waiting for it that long
// after the navigation began.
type lookupBudget interface{ Timeout() time.Duration }

func (sn *storedNeedGroups) NeedGroup(ctx context.Context, patient mapping.PatientRef, practice string) (mapping.NeedGroup, error) {
	var ng mapping.NeedGroup
	if patient.Reference == "" {
		return ng, nil
	}
	st := sn.nav.s.store
	security := sn.nav.s.practiceSystem() + "|" + practice
	q, err := search.ParseQuery("Observation", url.Values{"subject": {patient.Reference}, "_security": {security}, "_sort": {"-date"}}, true)
	if err != nil {
		return ng, err
	}
	page, err := st.Search(ctx, q, store.PageRequest{Count: 50})
	if err != nil {
		return ng, err
	}
	png := sn.nav.names.System(snomed.PatientNeedGroup)
	now := sn.nav.opts.Now()
	for _, v := range page.Matches {
		obj, err := navDecode(v.Body)
		if err != nil {
			return ng, err
		}
		if s, _ := obj["status"].(string); s == "entered-in-error" || s == "cancelled" {
			continue
		}
		vc, _ := obj["valueCodeableConcept"].(map[string]any)
		code := ""
		for _, c := range listOf(vc["coding"]) {
			cm, _ := c.(map[string]any)
			if cm["system"] == png {
				code, _ = cm["code"].(string)
			}
		}
		if mapping.NeedGroupLevel(code) == mapping.NeedUnknown {
			continue
		}
		eff, _ := obj["effectiveDateTime"].(string)
		date, ok := directory.ParseInstantish(eff)
		if ok && now.Sub(date) > sn.nav.opts.NeedGroupMaxAge {
			break // stale: unknown, never low
		}
		ng = mapping.NeedGroup{Known: true, Code: code, Date: date, Observation: "Observation/" + v.ID, Source: "stored Observation"}
		for _, pf := range listOf(obj["performer"]) {
			pm, _ := pf.(map[string]any)
			if d, _ := pm["display"].(string); d != "" {
				ng.Source = d
			}
		}
		break
	}
	lists := mapping.DefaultSafetyLists(nil)
	codes := make([]string, 0, len(lists.ComplexFindings))
	for c := range lists.ComplexFindings {
		codes = append(codes, snomed.System+"|"+c)
	}
	sort.Strings(codes)
	cq, err := search.ParseQuery("Condition", url.Values{"subject": {patient.Reference}, "code": {strings.Join(codes, ",")}, "_security": {security}}, true)
	if err != nil {
		return ng, err
	}
	cpage, err := st.Search(ctx, cq, store.PageRequest{Count: 50})
	if err != nil {
		return ng, err
	}
	for _, v := range cpage.Matches {
		obj, err := navDecode(v.Body)
		if err != nil {
			return ng, err
		}
		cs, _ := obj["clinicalStatus"].(map[string]any)
		active := cs == nil
		for _, c := range listOf(cs["coding"]) {
			cm, _ := c.(map[string]any)
			if code, _ := cm["code"].(string); code == "active" || code == "recurrence" || code == "relapse" {
				active = true
			}
		}
		if !active {
			continue
		}
		code, _ := obj["code"].(map[string]any)
		for _, c := range listOf(code["coding"]) {
			cm, _ := c.(map[string]any)
			if cm["system"] == snomed.System {
				if v, _ := cm["code"].(string); lists.ComplexFindings[v] != "" {
					ng.Findings = append(ng.Findings, v)
				}
			}
		}
	}
	return ng, nil
}

// seedDemo seeds the demonstration content of dir: every *.json file is a
// resource or a collection Bundle of resources with fixed ids. They are
// validated like any write, labelled with the demo practice where they
// hold patient data, and seeded by the shipped-content rules
// (snomed.SeedResources: absent or unmodified ones are written, an
// administrator's edits kept). Canonical URLs are rewritten to the
// server's base.
func (nav *navigation) seedDemo(ctx context.Context, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no demo content (*.json) in %s", dir)
	}
	sort.Strings(files)
	var resources []*fhir.Resource
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if base := nav.s.opts.CanonicalBase; base != DefaultCanonicalBase {
			b = []byte(strings.ReplaceAll(string(b), DefaultCanonicalBase, base))
		}
		r, err := fhir.ParseResource(b)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		list := []*fhir.Resource{r}
		if r.Type() == "Bundle" {
			list = nil
			for _, e := range listOf(r.Object()["entry"]) {
				em, _ := e.(map[string]any)
				rm, _ := em["resource"].(map[string]any)
				er, err := fhir.ResourceFromObject(rm)
				if err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				list = append(list, er)
			}
		}
		for _, er := range list {
			if er.ID() == "" {
				return fmt.Errorf("%s: a demo %s has no id", f, er.Type())
			}
			if err := er.Validate(fhir.ValidateOptions{Strict: true}); err != nil {
				return fmt.Errorf("%s: %s/%s: %w", f, er.Type(), er.ID(), err)
			}
			if issues := nav.demoChecks(er); navHasErrors(issues) {
				return fmt.Errorf("%s: %s/%s: %s", f, er.Type(), er.ID(), navErrorIssues(issues)[0].Diagnostics)
			}
			if err := snomed.MarkShipped(er, "demo"); err != nil {
				return err
			}
			// After MarkShipped, which writes meta afresh (its hash
			// leaves meta out).
			if auth.IsPatientLinked(er.Type()) {
				nav.s.setPracticeLabel(er, "Y99999")
			}
			resources = append(resources, er)
		}
	}
	seeded, err := snomed.SeedResources(ctx, nav.s.store, resources)
	if err != nil {
		return err
	}
	nav.s.NoteSeeded(ctx, "demo resource", seeded)
	return nil
}

// demoChecks are the write checks demo content must pass.
func (nav *navigation) demoChecks(r *fhir.Resource) []fhir.Issue {
	switch r.Type() {
	case "PlanDefinition":
		return mapping.CheckProtocol(r.Object(), nav.names)
	case "HealthcareService":
		return mapping.CheckDirectoryService(r, nav.engine.Directory)
	}
	return nil
}
