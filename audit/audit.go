package audit

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/tenancy"
)

// Who is whose access an AuditEvent records: the caller and its request.
type Who struct {
	Principal *auth.Principal
	// ClientIP is the caller's network address ("" when unknown).
	ClientIP string
	// RequestID is the request's X-Request-Id ("" for none).
	RequestID string
}

// OutcomeCode is AuditEvent.outcome.
type OutcomeCode string

// The outcomes Signpost records.
const (
	Success        OutcomeCode = "0"
	MinorFailure   OutcomeCode = "4"
	SeriousFailure OutcomeCode = "8"
)

// Outcome is how the access ended: AuditEvent.outcome and outcomeDesc.
type Outcome struct {
	Code OutcomeCode
	// Desc is outcomeDesc (the gateway's: the HTTP status and its text).
	Desc string
}

// Entry is what one AuditEvent says of the access.
type Entry struct {
	// Subtype is the restful-interaction code.
	Subtype string
	// Action is C, R, U, D or E.
	Action string
	Type   string
	ID     string
	// Version is the version read or written, 0 when none.
	Version int64
	// Params are the search parameter names.
	Params []string
	// Operation is the $name of an operation.
	Operation string
	// Types are the types a system search (_type) searched.
	Types []string
	// Practices the access concerned (the resource's); empty means the
	// caller's.
	Practices []string
	Outcome   Outcome
	// Entry is the Bundle entry index, -1 for a plain request.
	Entry int
	// Probe marks the copy of a refused access recorded for the practice
	// that owns what was asked for (ProbeOwners).
	Probe bool
}

// Options build a Recorder.
type Options struct {
	// Store receives the AuditEvents of reads and failures.
	Store store.Store
	// Tenancy gives the practice labels and who owns a probed id.
	Tenancy *tenancy.Guard
	// CanonicalBase names the request id's identifier system.
	CanonicalBase string
	// Version is the gateway's, named as the observer.
	Version string
	Now     func() time.Time
	Logger  *slog.Logger
	// FailureTimeout bounds the recording of a failure's AuditEvents.
	FailureTimeout time.Duration
	// ObserveBatch, when set, is told the size of each batch of reads'
	// AuditEvents committed together (metrics).
	ObserveBatch func(n int)
}

// Recorder builds and stores AuditEvents.
type Recorder struct {
	opts  Options
	reads *batcher
}

// New builds a Recorder.
func New(opts Options) *Recorder {
	return &Recorder{opts: opts, reads: &batcher{store: opts.Store, maxBatch: 128, observeBatch: opts.ObserveBatch}}
}

// Codes of the AuditEvent.
const (
	auditTypeSystem      = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	restfulInteraction   = "http://hl7.org/fhir/restful-interaction"
	dicomSystem          = "http://dicom.nema.org/resources/ontology/DCM"
	participationType    = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	entityTypeSystem     = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	objectRoleSystem     = "http://terminology.hl7.org/CodeSystem/object-role"
	securitySourceSystem = "http://terminology.hl7.org/CodeSystem/security-source-type"
	resourceTypesSystem  = "http://hl7.org/fhir/resource-types"
)

func coding(system, code, display string) map[string]any {
	c := map[string]any{"system": system, "code": code}
	if display != "" {
		c["display"] = display
	}
	return c
}

// Event builds the AuditEvent of e for who.
func (a *Recorder) Event(who Who, e Entry) (*fhir.Resource, error) {
	p := who.Principal
	practices := e.Practices
	if len(practices) == 0 {
		practices = p.Practices()
	}
	user := map[string]any{
		"type":      map[string]any{"coding": []any{coding(dicomSystem, "110153", "Source Role ID")}},
		"who":       map[string]any{"identifier": identifier(p.Issuer, p.Subject)},
		"requestor": true,
	}
	var roles []any
	for _, r := range p.Roles {
		roles = append(roles, map[string]any{"text": string(r)})
	}
	if p.Tier != "" {
		roles = append(roles, map[string]any{"text": "navigator tier " + string(p.Tier)})
	}
	if len(roles) > 0 {
		user["role"] = roles
	}
	if who.ClientIP != "" {
		user["network"] = map[string]any{"address": who.ClientIP, "type": "2"}
	}
	agents := []any{user}
	if p.ClientID != "" {
		agents = append(agents, map[string]any{
			"type":      map[string]any{"coding": []any{coding(dicomSystem, "110150", "Application")}},
			"who":       map[string]any{"identifier": identifier(p.Issuer, p.ClientID)},
			"requestor": false,
		})
	}
	for _, ods := range practices {
		agents = append(agents, map[string]any{
			"type":      map[string]any{"coding": []any{coding(participationType, "RESP", "responsible party")}},
			"who":       map[string]any{"identifier": map[string]any{"system": tenancy.ODSSystem, "value": ods}},
			"requestor": false,
		})
	}
	var entities []any
	if e.Type != "" || len(e.Types) > 0 {
		what := map[string]any{}
		ent := map[string]any{}
		if e.Type != "" {
			ent["type"] = coding(resourceTypesSystem, e.Type, "")
		}
		switch {
		case e.ID != "" && e.Version > 0:
			what["reference"] = e.Type + "/" + e.ID + "/_history/" + strconv.FormatInt(e.Version, 10)
		case e.ID != "":
			what["reference"] = e.Type + "/" + e.ID
		}
		if len(what) > 0 {
			ent["what"] = what
			ent["role"] = coding(objectRoleSystem, "4", "Domain Resource")
		} else {
			ent["role"] = coding(objectRoleSystem, "24", "Query")
		}
		var details []any
		if len(e.Params) > 0 {
			details = append(details, map[string]any{"type": "search-parameters", "valueString": strings.Join(e.Params, ",")})
		}
		if e.Operation != "" {
			details = append(details, map[string]any{"type": "operation", "valueString": "$" + e.Operation})
		}
		if len(e.Types) > 0 {
			details = append(details, map[string]any{"type": "search-types", "valueString": strings.Join(e.Types, ",")})
		}
		if e.Probe {
			details = append(details, map[string]any{"type": "probe", "valueString": "this practice's resource, asked for by a caller acting for no practice that may see it; answered as not known"})
		}
		if e.Entry >= 0 {
			details = append(details, map[string]any{"type": "bundle-entry", "valueString": strconv.Itoa(e.Entry)})
		}
		if len(details) > 0 {
			ent["detail"] = details
		}
		entities = append(entities, ent)
	}
	if who.RequestID != "" {
		entities = append(entities, map[string]any{
			"what":        map[string]any{"identifier": map[string]any{"system": a.opts.CanonicalBase + "/request-id", "value": who.RequestID}},
			"type":        coding(entityTypeSystem, "4", "Other"),
			"description": "the HTTP request (X-Request-Id)",
		})
	}
	obj := map[string]any{
		"resourceType": "AuditEvent",
		"type":         coding(auditTypeSystem, "rest", "RESTful Operation"),
		"subtype":      []any{coding(restfulInteraction, e.Subtype, "")},
		"action":       e.Action,
		"recorded":     a.opts.Now().UTC().Format(fhir.InstantFormat),
		"outcome":      string(e.Outcome.Code),
		"outcomeDesc":  e.Outcome.Desc,
		"agent":        agents,
		"source": map[string]any{
			"site":     "Signpost",
			"observer": map[string]any{"display": "Signpost FHIR gateway " + a.opts.Version},
			"type":     []any{coding(securitySourceSystem, "4", "Application Server")},
		},
	}
	if len(entities) > 0 {
		obj["entity"] = entities
	}
	if len(practices) > 0 {
		labels := make([]any, 0, len(practices))
		sys := a.opts.Tenancy.System
		for _, ods := range practices {
			labels = append(labels, map[string]any{"system": sys, "code": ods})
		}
		obj["meta"] = map[string]any{"security": labels}
	}
	r, err := fhir.ResourceFromObject(obj)
	if err != nil {
		return nil, err
	}
	r.SetID(uuid.NewString())
	return r, nil
}

// identifier is an Identifier with the issuer as its system.
func identifier(system, value string) map[string]any {
	id := map[string]any{"value": value}
	if system != "" {
		id["system"] = system
	}
	return id
}

// Record creates e's AuditEvent on tx (the raw store, never the caller's
// guarded one: the server writes audit records, whatever the caller's
// scopes).
func (a *Recorder) Record(ctx context.Context, tx store.Tx, who Who, e Entry) error {
	r, err := a.Event(who, e)
	if err != nil {
		return err
	}
	_, err = tx.Create(ctx, r)
	return err
}

// Read records a successful read-type access before its response is
// sent, with the other reads' of the moment (group commit): if that
// fails, so must the request, and the data stay unsent.
func (a *Recorder) Read(ctx context.Context, who Who, e Entry) error {
	r, err := a.Event(who, e)
	if err != nil {
		return err
	}
	return a.reads.submit(ctx, r)
}

// Failure records that an access failed: e carries the outcome. It runs
// after the fact, with a deadline of its own (the caller's may be what
// failed), so a failure to record is logged, not returned. missed is a
// miss (not found, gone) rather than a refusal: a miss on another
// practice's id is a probe of that practice's data, and its auditors
// see it too, in an AuditEvent of their own. The caller's event is the
// same as for an id that never existed, so the prober learns nothing.
func (a *Recorder) Failure(ctx context.Context, who Who, e Entry, missed bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.FailureTimeout)
	defer cancel()
	if rerr := a.Record(ctx, a.opts.Store, who, e); rerr != nil {
		a.opts.Logger.LogAttrs(ctx, slog.LevelError, "recording the AuditEvent of a failed access",
			slog.String("request_id", who.RequestID), slog.String("type", e.Type), slog.String("error", rerr.Error()))
	}
	if !missed {
		return
	}
	if owners := a.ProbeOwners(ctx, who.Principal, e.Type, e.ID); len(owners) > 0 {
		o := e
		o.Practices, o.Probe = owners, true
		if rerr := a.Record(ctx, a.opts.Store, who, o); rerr != nil {
			a.opts.Logger.LogAttrs(ctx, slog.LevelError, "recording the AuditEvent of a probe for the practice probed",
				slog.String("request_id", who.RequestID), slog.String("type", e.Type), slog.String("error", rerr.Error()))
		}
	}
}

// ProbeOwners are the practices owning typ/id (its current version, or
// its last live one when deleted) that p may not see; none when the id
// never existed or p may see it.
func (a *Recorder) ProbeOwners(ctx context.Context, p *auth.Principal, typ, id string) []string {
	if id == "" || !tenancy.Restricted(p, typ) {
		return nil
	}
	var practices []string
	v, err := a.opts.Store.Read(ctx, typ, id)
	switch {
	case err == nil:
		practices = a.opts.Tenancy.PracticesOf(v.Body)
	case errors.Is(err, fhir.ErrDeleted):
		practices, _, _ = a.opts.Tenancy.DeletedPractices(ctx, p, typ, id)
	default:
		return nil
	}
	var out []string
	for _, ods := range practices {
		if !p.CanSeePractice(ods) {
			out = append(out, ods)
		}
	}
	return out
}

// ParamNames are the keys of a search, sorted, without values and
// without those named in skip (paging and format parameters).
func ParamNames(values map[string][]string, skip ...string) []string {
	out := make([]string, 0, len(values))
	for k := range values {
		if slices.Contains(skip, k) {
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
