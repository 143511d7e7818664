package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// $validate (R4 Resource-validate), at type level ([type]/$validate) and
// instance level ([type]/[id]/$validate), on every served type.
//
// The body is the resource itself, or a Parameters resource with
// resource, mode and profile (mode and profile may also be query
// parameters). The answer is 200 with an OperationOutcome whether or not
// the resource is valid (R4): its error issues say why it is not, and a
// valid resource gets one information issue. A 4xx means the validation
// could not be performed (the body is not a resource, a mode or profile
// is not served, the nominated resource is not visible).
//
// Without mode the resource is checked against the R4 definitions and
// the checks Signpost adds for its type (the navigation contract, for
// example). With mode create, update or delete the interaction is also
// rehearsed on the store in a transaction that is always rolled back, so
// every rule of the real interaction applies (practice tenancy, the
// publisher's scope, If-Match, delete checks) and nothing is stored:
// the answer says what the interaction would answer now, though not
// that it will succeed later. Mode profile checks the stored resource
// the URL names.
//
// profile: only the R4 base definition of the type
// (http://hl7.org/fhir/StructureDefinition/<type>) is served; any other
// profile is a 400 (not-supported), since its constraints cannot be
// checked here.
//
// Permissions: mode create, update or delete needs that permission on
// the type; mode profile needs read; no mode needs any of read, create
// or update. On a patient-linked type the call is audited as an
// operation.

// validateDefinition is the canonical URL of R4's $validate.
const validateDefinition = "http://hl7.org/fhir/OperationDefinition/Resource-validate"

// errDryRun rolls a rehearsed interaction back.
var errDryRun = errors.New("gateway: $validate rehearsal, rolled back")

func (s *Server) validateRoute(req *request, level OperationLevel) (handlerFunc, error) {
	if req.method != http.MethodPost {
		return nil, methodNotAllowed(req.method, "$validate")
	}
	if level == InstanceLevel && !fhir.ValidID(req.id) {
		return nil, fhir.Errorf(fhir.CodeNotFound, "%q is not a valid id", req.id).WithStatus(http.StatusNotFound)
	}
	return s.validateOperation, nil
}

// validateInput is what a $validate call asks.
type validateInput struct {
	resource *fhir.Resource
	mode     string
	profile  string
}

func (s *Server) validateOperation(req *request) (*response, error) {
	if auth.IsPatientLinked(req.typ) {
		req.audit = auditFor("operation", "E", req)
		req.audit.operation = "validate"
	}
	in, err := s.validateInput(req)
	if err != nil {
		return nil, err
	}
	if err := s.validatePermission(req, in.mode); err != nil {
		return nil, err
	}
	if in.profile != "" {
		base := "http://hl7.org/fhir/StructureDefinition/" + req.typ
		p, _, _ := strings.Cut(in.profile, "|")
		if p != base {
			return nil, fhir.Errorf(fhir.CodeNotSupported, "profile %q is not supported: this server validates %s against its R4 base definition (%s) only", in.profile, req.typ, base).
				At("profile").WithStatus(http.StatusBadRequest)
		}
	}
	strict := strictHandling(req.header)
	var issues []fhir.Issue
	switch in.mode {
	case "", "create", "update":
		if in.resource == nil {
			return nil, fhir.Errorf(fhir.CodeRequired, "a resource to validate is required (the body, or the Parameters' resource)").At("resource").WithStatus(http.StatusBadRequest)
		}
		if in.resource.Type() != req.typ {
			return nil, fhir.Errorf(fhir.CodeInvalid, "resourceType %q does not match the URL's %q", in.resource.Type(), req.typ).At("resourceType").WithStatus(http.StatusBadRequest)
		}
		if issues, err = s.contentIssues(req, in.resource, strict); err != nil {
			return nil, err
		}
		if hasErrors(issues) || in.mode == "" {
			break
		}
		if in.mode == "update" {
			switch id := in.resource.ID(); {
			case id == "":
				issues = append(issues, fhir.Issue{Severity: fhir.SeverityError, Code: fhir.CodeRequired, Expression: []string{req.typ + ".id"},
					Diagnostics: fmt.Sprintf("an update must carry the id of the URL (%s)", req.id)})
			case id != req.id:
				issues = append(issues, fhir.Issue{Severity: fhir.SeverityError, Code: fhir.CodeInvalid, Expression: []string{req.typ + ".id"},
					Diagnostics: fmt.Sprintf("body id %q does not match the URL's %q", id, req.id)})
			}
			if hasErrors(issues) {
				break
			}
		}
		more, err := s.rehearse(req, in.mode, in.resource)
		if err != nil {
			return nil, err
		}
		issues = append(issues, more...)
	case "delete":
		more, err := s.rehearse(req, "delete", nil)
		if err != nil {
			return nil, err
		}
		issues = append(issues, more...)
	case "profile":
		v, err := s.guard(req.principal, s.store).Read(req.ctx, req.typ, req.id)
		if err != nil {
			return nil, err
		}
		r, err := fhir.ParseResource(v.Body)
		if err != nil {
			return nil, err
		}
		if issues, err = s.contentIssues(req, r, strict); err != nil {
			return nil, err
		}
	}
	if !hasErrors(issues) {
		what := "the resource is valid"
		switch in.mode {
		case "create", "update":
			what = "the resource is valid and would be accepted as " + article(in.mode) + " now"
		case "delete":
			what = fmt.Sprintf("%s/%s could be deleted now", req.typ, req.id)
		case "profile":
			what = fmt.Sprintf("the stored %s/%s is valid", req.typ, req.id)
		}
		issues = append(issues, fhir.Issue{Severity: fhir.SeverityInformation, Code: fhir.CodeInformational,
			Diagnostics: what + " against the R4 definition of " + req.typ + " and Signpost's rules for it; nothing was stored"})
	}
	if err := s.auditRead(req, req.audit); err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: fhir.Outcome(issues...)}, nil
}

func article(mode string) string {
	if mode == "update" {
		return "an update"
	}
	return "a create"
}

// validateInput reads the body (a resource or Parameters) and the query.
func (s *Server) validateInput(req *request) (validateInput, error) {
	var in validateInput
	if req.body != nil {
		data, err := io.ReadAll(req.body)
		if err != nil {
			return in, err
		}
		if len(strings.TrimSpace(string(data))) > 0 {
			r, err := fhir.ParseResource(data)
			if err != nil {
				return in, err
			}
			if r.Type() != "Parameters" {
				in.resource = r
			} else if in, err = validateParameters(data); err != nil {
				return in, err
			}
		}
	}
	for _, k := range []string{"mode", "profile"} {
		vs := req.query[k]
		if len(vs) == 0 {
			continue
		}
		if len(vs) > 1 || (k == "mode" && in.mode != "") || (k == "profile" && in.profile != "") {
			return in, fhir.Errorf(fhir.CodeInvalid, "%s is given more than once", k).At(k).WithStatus(http.StatusBadRequest)
		}
		if k == "mode" {
			in.mode = vs[0]
		} else {
			in.profile = vs[0]
		}
	}
	for k := range req.query {
		switch k {
		case "mode", "profile", "_format", "_pretty":
		default:
			return in, fhir.Errorf(fhir.CodeNotSupported, "$validate has no parameter %q (resource, mode, profile)", k).At(k).WithStatus(http.StatusBadRequest)
		}
	}
	switch in.mode {
	case "", "create":
	case "update", "delete", "profile":
		if req.id == "" {
			return in, fhir.Errorf(fhir.CodeInvalid, "mode %s names a resource: invoke $validate on [type]/[id]", in.mode).At("mode").WithStatus(http.StatusBadRequest)
		}
	default:
		return in, fhir.Errorf(fhir.CodeCodeInvalid, "mode %q is not one of create, update, delete, profile", in.mode).At("mode").WithStatus(http.StatusBadRequest)
	}
	if in.mode == "delete" && in.resource != nil {
		// R4: the server ignores the content in mode delete.
		in.resource = nil
	}
	return in, nil
}

// validateParameters reads a Parameters body of $validate.
func validateParameters(data []byte) (validateInput, error) {
	var in validateInput
	p, err := fhir.ParseParameters(data)
	if err != nil {
		return in, err
	}
	for _, name := range []string{"resource", "mode", "profile"} {
		if len(p.All(name)) > 1 {
			return in, fhir.Errorf(fhir.CodeInvalid, "parameter %s is given more than once", name).At("Parameters.parameter").WithStatus(http.StatusBadRequest)
		}
	}
	if ps := p.All("resource"); len(ps) == 1 {
		obj, ok := ps[0]["resource"].(map[string]any)
		if !ok {
			return in, fhir.Errorf(fhir.CodeStructure, "parameter resource must hold a resource").At("Parameters.parameter").WithStatus(http.StatusBadRequest)
		}
		if in.resource, err = fhir.ResourceFromObject(obj); err != nil {
			return in, err
		}
	}
	if p.Has("mode") {
		typ, v, _ := p.Value("mode")
		s, ok := v.(string)
		if typ != "Code" || !ok {
			return in, fhir.Errorf(fhir.CodeStructure, "parameter mode is a valueCode").At("Parameters.parameter").WithStatus(http.StatusBadRequest)
		}
		in.mode = s
	}
	if p.Has("profile") {
		typ, v, _ := p.Value("profile")
		s, ok := v.(string)
		if (typ != "Uri" && typ != "Canonical") || !ok {
			return in, fhir.Errorf(fhir.CodeStructure, "parameter profile is a valueUri").At("Parameters.parameter").WithStatus(http.StatusBadRequest)
		}
		in.profile = s
	}
	return in, nil
}

// validatePermission checks what the mode needs (see the top of the file).
func (s *Server) validatePermission(req *request, mode string) error {
	switch mode {
	case "create":
		return s.authorize(req.principal, req.typ, auth.Create)
	case "update":
		return s.authorize(req.principal, req.typ, auth.Update)
	case "delete":
		return s.authorize(req.principal, req.typ, auth.Delete)
	case "profile":
		return s.authorize(req.principal, req.typ, auth.Read)
	}
	first := s.authorize(req.principal, req.typ, auth.Read)
	if first == nil {
		return nil
	}
	for _, a := range []auth.Action{auth.Create, auth.Update} {
		if s.authorize(req.principal, req.typ, a) == nil {
			return nil
		}
	}
	return first
}

// contentIssues are every issue of the R4 definitions and of the checks
// registered for the type, warnings and information included.
func (s *Server) contentIssues(req *request, r *fhir.Resource, strict bool) ([]fhir.Issue, error) {
	issues := fhir.Validate(r, fhir.ValidateOptions{Strict: strict})
	if hasErrors(issues) {
		return issues, nil
	}
	for _, check := range s.writeChecks[r.Type()] {
		more, err := check(req.ctx, r, strict)
		if err != nil {
			if fe, ok := fhir.AsError(err); ok && fe.Status < 500 && fe.Status != 0 {
				return append(issues, fe.Issues...), nil
			}
			return nil, err
		}
		issues = append(issues, more...)
	}
	return issues, nil
}

// rehearse runs the interaction of mode on the store and rolls it back.
// A refusal the client could fix in the content or the precondition
// (400, 409, 412, 422) is returned as issues; a refusal of the caller
// or of the resource named (401, 403, 404, 410) and failures of the
// store are the error of the call.
func (s *Server) rehearse(req *request, mode string, r *fhir.Resource) ([]fhir.Issue, error) {
	pre, err := ifMatch(req.header)
	if err != nil {
		return nil, err
	}
	var refusal error
	err = s.store.Transaction(req.ctx, func(tx store.Tx) error {
		g := s.guard(req.principal, tx)
		var err error
		switch mode {
		case "create":
			w := r.Clone()
			w.SetID(uuid.NewString())
			_, err = interaction.Create(req.ctx, g, w)
		case "update":
			_, err = interaction.Update(req.ctx, g, r.Clone(), pre)
		case "delete":
			_, err = interaction.Delete(req.ctx, g, req.typ, req.id, pre)
		}
		refusal = err
		if err != nil {
			if _, ok := fhir.AsError(err); ok {
				return errDryRun
			}
			return err
		}
		return errDryRun
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return nil, err
	}
	if refusal == nil {
		return nil, nil
	}
	status, _, _ := errorResponse(refusal)
	fe, _ := fhir.AsError(refusal)
	switch status {
	case http.StatusBadRequest, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity:
		out := make([]fhir.Issue, 0, len(fe.Issues))
		for _, is := range fe.Issues {
			if is.Severity == "" {
				is.Severity = fhir.SeverityError
			}
			out = append(out, is)
		}
		return out, nil
	}
	return nil, refusal
}

// hasErrors reports an error or fatal issue.
func hasErrors(issues []fhir.Issue) bool {
	for _, is := range issues {
		if is.Severity == fhir.SeverityError || is.Severity == fhir.SeverityFatal {
			return true
		}
	}
	return false
}
