package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Audit. Every interaction that touches patient-linked data (a read,
// vread, search, history, write or operation on a patient-linked type, a
// search that chains, _has-es or includes into one, each such entry of a
// batch or transaction) leaves exactly one AuditEvent, success or
// failure, for an authenticated caller:
//
//   - type rest, subtype the R4 restful-interaction code (read, vread,
//     search-type, history-instance, history-type, history-system, create,
//     update, patch, delete, operation), action C, R, U, D or E (E for
//     searches and operations, as R4 defines it);
//   - recorded, outcome (0 success, 4 a refusal or a miss) and outcomeDesc
//     (the HTTP status, nothing more);
//   - agents: the user (sub, with the issuer as identifier system, the
//     source IP as network address, roles and tier), the client
//     application (client_id) and, for each practice the access was on
//     behalf of, the practice (ODS identifier);
//   - entities: what was touched (Type/id[/_history/n], or for a search
//     the searched type with the parameter NAMES only: values hold NHS
//     numbers and other patient identifiers, so they are never recorded)
//     and the HTTP request, by its X-Request-Id;
//   - meta.security: the practice label of each practice concerned, so an
//     auditor sees the events of their own practices (tenancy applies to
//     AuditEvent like any patient-linked type).
//
// Failures are recorded when they are what an auditor looks for: a
// refusal (403) and a miss (404, 410), which is how probing for another
// practice's data shows; a miss on an id another practice holds is also
// recorded for that practice (auditFailure). A request refused as malformed (400, 405, 413,
// 415, 422) or in conflict (409, 412) accessed nothing and leaves no
// AuditEvent; nor does a 401, which has no caller to name (it is logged).
//
// "No audit, no access": a write's AuditEvent is created in the same
// Store.Transaction as the write, so both commit or neither does; a read's
// is created before the response is sent, and if that fails the client
// gets a 500, not the data. A failure's AuditEvent (the access did not
// happen) is written afterwards, on a best-effort basis: if that fails it
// is logged. AuditEvents are append-only (the registry serves no update,
// patch or delete of them).

// auditEntry is what one AuditEvent says.
type auditEntry struct {
	// subtype is the restful-interaction code.
	subtype string
	// action is C, R, U, D or E.
	action string
	typ    string
	id     string
	// version is the version read or written, 0 when none.
	version int64
	// params are the search parameter names.
	params []string
	// operation is the $name of an operation.
	operation string
	// types are the types a system search (_type) searched.
	types []string
	// practices the access concerned (the resource's); empty means the
	// caller's.
	practices []string
	// status is the HTTP status of the interaction.
	status int
	// entry is the Bundle entry index, -1 for a plain request.
	entry int
	// probe marks the copy of a refused access recorded for the practice
	// that owns what was asked for (probeOwners).
	probe bool
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

// auditFor starts the AuditEvent of a REST interaction on req.typ.
func auditFor(subtype, action string, req *request) *auditEntry {
	return &auditEntry{subtype: subtype, action: action, typ: req.typ, id: req.id, entry: -1}
}

// outcomeCode is AuditEvent.outcome for an HTTP status.
func outcomeCode(status int) string {
	switch {
	case status < 400:
		return "0"
	case status < 500:
		return "4"
	}
	return "8"
}

func coding(system, code, display string) map[string]any {
	c := map[string]any{"system": system, "code": code}
	if display != "" {
		c["display"] = display
	}
	return c
}

// auditEvent builds the AuditEvent of e for req's caller.
func (s *Server) auditEvent(req *request, e *auditEntry) (*fhir.Resource, error) {
	p := req.principal
	status := e.status
	if status == 0 {
		status = http.StatusOK
	}
	practices := e.practices
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
	if req.clientIP != "" {
		user["network"] = map[string]any{"address": req.clientIP, "type": "2"}
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
			"who":       map[string]any{"identifier": map[string]any{"system": odsSystem, "value": ods}},
			"requestor": false,
		})
	}
	var entities []any
	if e.typ != "" || len(e.types) > 0 {
		what := map[string]any{}
		ent := map[string]any{}
		if e.typ != "" {
			ent["type"] = coding(resourceTypesSystem, e.typ, "")
		}
		switch {
		case e.id != "" && e.version > 0:
			what["reference"] = e.typ + "/" + e.id + "/_history/" + strconv.FormatInt(e.version, 10)
		case e.id != "":
			what["reference"] = e.typ + "/" + e.id
		}
		if len(what) > 0 {
			ent["what"] = what
			ent["role"] = coding(objectRoleSystem, "4", "Domain Resource")
		} else {
			ent["role"] = coding(objectRoleSystem, "24", "Query")
		}
		var details []any
		if len(e.params) > 0 {
			details = append(details, map[string]any{"type": "search-parameters", "valueString": strings.Join(e.params, ",")})
		}
		if e.operation != "" {
			details = append(details, map[string]any{"type": "operation", "valueString": "$" + e.operation})
		}
		if len(e.types) > 0 {
			details = append(details, map[string]any{"type": "search-types", "valueString": strings.Join(e.types, ",")})
		}
		if e.probe {
			details = append(details, map[string]any{"type": "probe", "valueString": "this practice's resource, asked for by a caller acting for no practice that may see it; answered as not known"})
		}
		if e.entry >= 0 {
			details = append(details, map[string]any{"type": "bundle-entry", "valueString": strconv.Itoa(e.entry)})
		}
		if len(details) > 0 {
			ent["detail"] = details
		}
		entities = append(entities, ent)
	}
	if req.requestID != "" {
		entities = append(entities, map[string]any{
			"what":        map[string]any{"identifier": map[string]any{"system": s.opts.CanonicalBase + "/request-id", "value": req.requestID}},
			"type":        coding(entityTypeSystem, "4", "Other"),
			"description": "the HTTP request (X-Request-Id)",
		})
	}
	obj := map[string]any{
		"resourceType": "AuditEvent",
		"type":         coding(auditTypeSystem, "rest", "RESTful Operation"),
		"subtype":      []any{coding(restfulInteraction, e.subtype, "")},
		"action":       e.action,
		"recorded":     s.opts.Now().UTC().Format(fhir.InstantFormat),
		"outcome":      outcomeCode(status),
		"outcomeDesc":  strconv.Itoa(status) + " " + http.StatusText(status),
		"agent":        agents,
		"source": map[string]any{
			"site":     "Signpost",
			"observer": map[string]any{"display": "Signpost FHIR gateway " + s.opts.Version},
			"type":     []any{coding(securitySourceSystem, "4", "Application Server")},
		},
	}
	if len(entities) > 0 {
		obj["entity"] = entities
	}
	if len(practices) > 0 {
		labels := make([]any, 0, len(practices))
		for _, ods := range practices {
			labels = append(labels, map[string]any{"system": s.practiceSystem(), "code": ods})
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

// recordAudit creates e's AuditEvent on tx (the raw store, never the
// caller's tenantTx: the server writes audit records, whatever the
// caller's scopes).
func (s *Server) recordAudit(ctx context.Context, tx store.Tx, req *request, e *auditEntry) error {
	r, err := s.auditEvent(req, e)
	if err != nil {
		return err
	}
	_, err = tx.Create(ctx, r)
	return err
}

// auditRead records a successful read-type access before its response is
// sent: if that fails, so does the request (500), and the data stays
// unsent.
func (s *Server) auditRead(req *request, e *auditEntry) error {
	if e == nil {
		return nil
	}
	r, err := s.auditEvent(req, e)
	if err != nil {
		return err
	}
	if err := s.audits.submit(req.ctx, r); err != nil {
		return err
	}
	req.audited = true
	return nil
}

// auditFailure records that an audited interaction failed with err. It
// runs after the fact, so a failure to record is logged, not answered.
func (s *Server) auditFailure(req *request, e *auditEntry, err error) {
	if e == nil || req.principal == nil {
		return
	}
	status, _, _ := errorResponse(err)
	switch status {
	case http.StatusForbidden, http.StatusNotFound, http.StatusGone:
	default:
		return
	}
	f := *e
	f.status = status
	// The deadline may be what failed: give the record its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(req.ctx), auditTimeout)
	defer cancel()
	if rerr := s.recordAudit(ctx, s.store, req, &f); rerr != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "recording the AuditEvent of a failed access",
			slog.String("request_id", req.requestID), slog.String("type", e.typ), slog.String("error", rerr.Error()))
	}
	if status == http.StatusForbidden {
		return
	}
	// A miss on another practice's id is a probe of that practice's
	// data: its auditors see it too, in an AuditEvent of their own. The
	// caller's event above is the same as for an id that never existed,
	// so the prober learns nothing.
	if owners := s.probeOwners(ctx, req.principal, e.typ, e.id); len(owners) > 0 {
		o := f
		o.practices, o.probe = owners, true
		if rerr := s.recordAudit(ctx, s.store, req, &o); rerr != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "recording the AuditEvent of a probe for the practice probed",
				slog.String("request_id", req.requestID), slog.String("type", e.typ), slog.String("error", rerr.Error()))
		}
	}
}

// probeOwners are the practices owning typ/id (its current version, or
// its last live one when deleted) that p may not see; none when the id
// never existed or p may see it.
func (s *Server) probeOwners(ctx context.Context, p *auth.Principal, typ, id string) []string {
	if id == "" || !restricted(p, typ) {
		return nil
	}
	var practices []string
	v, err := s.store.Read(ctx, typ, id)
	switch {
	case err == nil:
		practices = s.practicesOf(v.Body)
	case errors.Is(err, fhir.ErrDeleted):
		practices, _, _ = s.deletedPractices(ctx, p, typ, id)
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

// paramNames are the keys of a search, sorted, without values.
func paramNames(values map[string][]string) []string {
	out := make([]string, 0, len(values))
	for k := range values {
		if k == cursorParam || k == "_format" || k == "_pretty" {
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
