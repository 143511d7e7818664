package interaction

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// $validate (R4 Resource-validate), at type level ([type]/$validate) and
// instance level ([type]/[id]/$validate), on every served type.
//
// The body is the resource itself, or a Parameters resource with
// resource, mode and profile (mode and profile may also be query
// parameters). The answer is an OperationOutcome whether or not the
// resource is valid (R4): its error issues say why it is not, and a
// valid resource gets one information issue. An error means the
// validation could not be performed (the body is not a resource, a mode
// or profile is not served, the nominated resource is not visible).
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
// profile is refused (not-supported), since its constraints cannot be
// checked here.

// ValidateDefinition is the canonical URL of R4's $validate.
const ValidateDefinition = "http://hl7.org/fhir/OperationDefinition/Resource-validate"

// errDryRun rolls a rehearsed interaction back.
var errDryRun = errors.New("interaction: $validate rehearsal, rolled back")

// ValidateInput is what a $validate call asks.
type ValidateInput struct {
	Resource *fhir.Resource
	Mode     string
	Profile  string
}

// ParseValidateInput reads a $validate call: its body (a resource or
// Parameters; may be empty), its query parameters and the id of the
// URL ("" at type level).
func ParseValidateInput(data []byte, query map[string][]string, id string) (ValidateInput, error) {
	var in ValidateInput
	if len(strings.TrimSpace(string(data))) > 0 {
		r, err := fhir.ParseResource(data)
		if err != nil {
			return in, err
		}
		if r.Type() != "Parameters" {
			in.Resource = r
		} else if in, err = validateParameters(data); err != nil {
			return in, err
		}
	}
	for _, k := range []string{"mode", "profile"} {
		vs := query[k]
		if len(vs) == 0 {
			continue
		}
		if len(vs) > 1 || (k == "mode" && in.Mode != "") || (k == "profile" && in.Profile != "") {
			return in, fhir.Errorf(fhir.CodeInvalid, "%s is given more than once", k).At(k).Because(fhir.DetailMalformed)
		}
		if k == "mode" {
			in.Mode = vs[0]
		} else {
			in.Profile = vs[0]
		}
	}
	for k := range query {
		switch k {
		case "mode", "profile", "_format", "_pretty":
		default:
			return in, fhir.Errorf(fhir.CodeNotSupported, "$validate has no parameter %q (resource, mode, profile)", k).At(k).Because(fhir.DetailUnsupportedParameter)
		}
	}
	switch in.Mode {
	case "", "create":
	case "update", "delete", "profile":
		if id == "" {
			return in, fhir.Errorf(fhir.CodeInvalid, "mode %s names a resource: invoke $validate on [type]/[id]", in.Mode).At("mode").Because(fhir.DetailMalformed)
		}
	default:
		return in, fhir.Errorf(fhir.CodeCodeInvalid, "mode %q is not one of create, update, delete, profile", in.Mode).At("mode").Because(fhir.DetailMalformed)
	}
	if in.Mode == "delete" && in.Resource != nil {
		// R4: the server ignores the content in mode delete.
		in.Resource = nil
	}
	return in, nil
}

// validateParameters reads a Parameters body of $validate.
func validateParameters(data []byte) (ValidateInput, error) {
	var in ValidateInput
	p, err := fhir.ParseParameters(data)
	if err != nil {
		return in, err
	}
	for _, name := range []string{"resource", "mode", "profile"} {
		if len(p.All(name)) > 1 {
			return in, fhir.Errorf(fhir.CodeInvalid, "parameter %s is given more than once", name).At("Parameters.parameter").Because(fhir.DetailMalformed)
		}
	}
	if ps := p.All("resource"); len(ps) == 1 {
		obj, ok := ps[0]["resource"].(map[string]any)
		if !ok {
			return in, fhir.Errorf(fhir.CodeStructure, "parameter resource must hold a resource").At("Parameters.parameter").Because(fhir.DetailMalformed)
		}
		if in.Resource, err = fhir.ResourceFromObject(obj); err != nil {
			return in, err
		}
	}
	if p.Has("mode") {
		typ, v, _ := p.Value("mode")
		s, ok := v.(string)
		if typ != "Code" || !ok {
			return in, fhir.Errorf(fhir.CodeStructure, "parameter mode is a valueCode").At("Parameters.parameter").Because(fhir.DetailMalformed)
		}
		in.Mode = s
	}
	if p.Has("profile") {
		typ, v, _ := p.Value("profile")
		s, ok := v.(string)
		if (typ != "Uri" && typ != "Canonical") || !ok {
			return in, fhir.Errorf(fhir.CodeStructure, "parameter profile is a valueUri").At("Parameters.parameter").Because(fhir.DetailMalformed)
		}
		in.Profile = s
	}
	return in, nil
}

// Validation is one $validate call on Type (and ID at instance level)
// and what it runs on.
type Validation struct {
	Type, ID string
	In       ValidateInput
	// Strict is strict handling (Prefer: handling=strict).
	Strict bool
	// IfMatch reads the precondition a rehearsal carries (If-Match).
	IfMatch func() (store.Precondition, error)
	// Store runs the rehearsal's transaction (always rolled back).
	Store interface {
		Transaction(ctx context.Context, fn func(tx store.Tx) error) error
	}
	// Guard is tx under the caller's tenancy: what the rehearsal and the
	// read of mode profile run on.
	Guard func(tx store.Tx) store.Tx
	// Read reads the stored resource of mode profile, as the caller may.
	Read func(ctx context.Context, typ, id string) (store.Version, error)
	// Checks are the checks registered for the type's writes; a refusal
	// the client could fix is returned as issues (its error's issues).
	Checks func(ctx context.Context, r *fhir.Resource, strict bool) ([]fhir.Issue, error)
	// Fixable tells a rehearsal's refusal the client could fix in the
	// content or the precondition (returned as issues) from a refusal of
	// the caller or of the resource named, or a failure (the error of
	// the call).
	Fixable func(err error) bool
}

// Validate runs v and answers its issues, with one information issue
// when there is no error. Nothing is stored.
func Validate(ctx context.Context, v Validation) ([]fhir.Issue, error) {
	in := v.In
	if in.Profile != "" {
		base := "http://hl7.org/fhir/StructureDefinition/" + v.Type
		p, _, _ := strings.Cut(in.Profile, "|")
		if p != base {
			return nil, fhir.Errorf(fhir.CodeNotSupported, "profile %q is not supported: this server validates %s against its R4 base definition (%s) only", in.Profile, v.Type, base).
				At("profile").Because(fhir.DetailUnsupportedParameter)
		}
	}
	var issues []fhir.Issue
	var err error
	switch in.Mode {
	case "", "create", "update":
		if in.Resource == nil {
			return nil, fhir.Errorf(fhir.CodeRequired, "a resource to validate is required (the body, or the Parameters' resource)").At("resource").Because(fhir.DetailMalformed)
		}
		if in.Resource.Type() != v.Type {
			return nil, fhir.Errorf(fhir.CodeInvalid, "resourceType %q does not match the URL's %q", in.Resource.Type(), v.Type).At("resourceType").Because(fhir.DetailMalformed)
		}
		if issues, err = v.contentIssues(ctx, in.Resource); err != nil {
			return nil, err
		}
		if HasErrors(issues) || in.Mode == "" {
			break
		}
		if in.Mode == "update" {
			switch id := in.Resource.ID(); {
			case id == "":
				issues = append(issues, fhir.Issue{Severity: fhir.SeverityError, Code: fhir.CodeRequired, Expression: []string{v.Type + ".id"},
					Diagnostics: fmt.Sprintf("an update must carry the id of the URL (%s)", v.ID)})
			case id != v.ID:
				issues = append(issues, fhir.Issue{Severity: fhir.SeverityError, Code: fhir.CodeInvalid, Expression: []string{v.Type + ".id"},
					Diagnostics: fmt.Sprintf("body id %q does not match the URL's %q", id, v.ID)})
			}
			if HasErrors(issues) {
				break
			}
		}
		more, err := v.rehearse(ctx, in.Mode, in.Resource)
		if err != nil {
			return nil, err
		}
		issues = append(issues, more...)
	case "delete":
		more, err := v.rehearse(ctx, "delete", nil)
		if err != nil {
			return nil, err
		}
		issues = append(issues, more...)
	case "profile":
		sv, err := v.Read(ctx, v.Type, v.ID)
		if err != nil {
			return nil, err
		}
		r, err := fhir.ParseResource(sv.Body)
		if err != nil {
			return nil, err
		}
		if issues, err = v.contentIssues(ctx, r); err != nil {
			return nil, err
		}
	}
	if !HasErrors(issues) {
		what := "the resource is valid"
		switch in.Mode {
		case "create":
			what = "the resource is valid and would be accepted as a create now"
		case "update":
			what = "the resource is valid and would be accepted as an update now"
		case "delete":
			what = fmt.Sprintf("%s/%s could be deleted now", v.Type, v.ID)
		case "profile":
			what = fmt.Sprintf("the stored %s/%s is valid", v.Type, v.ID)
		}
		issues = append(issues, fhir.Issue{Severity: fhir.SeverityInformation, Code: fhir.CodeInformational,
			Diagnostics: what + " against the R4 definition of " + v.Type + " and Signpost's rules for it; nothing was stored"})
	}
	return issues, nil
}

// contentIssues are every issue of the R4 definitions and of the checks
// registered for the type, warnings and information included.
func (v Validation) contentIssues(ctx context.Context, r *fhir.Resource) ([]fhir.Issue, error) {
	issues := fhir.Validate(r, fhir.ValidateOptions{Strict: v.Strict})
	if HasErrors(issues) {
		return issues, nil
	}
	more, err := v.Checks(ctx, r, v.Strict)
	if err != nil {
		return nil, err
	}
	return append(issues, more...), nil
}

// rehearse runs the interaction of mode on the store and rolls it back.
// A refusal the client could fix (v.Fixable) is returned as issues; any
// other refusal and failures of the store are the error of the call.
func (v Validation) rehearse(ctx context.Context, mode string, r *fhir.Resource) ([]fhir.Issue, error) {
	pre, err := v.IfMatch()
	if err != nil {
		return nil, err
	}
	var refusal error
	err = v.Store.Transaction(ctx, func(tx store.Tx) error {
		g := v.Guard(tx)
		var err error
		switch mode {
		case "create":
			w := r.Clone()
			w.SetID(uuid.NewString())
			_, err = Create(ctx, g, w)
		case "update":
			_, err = Update(ctx, g, r.Clone(), pre)
		case "delete":
			_, err = Delete(ctx, g, v.Type, v.ID, pre)
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
	if !v.Fixable(refusal) {
		return nil, refusal
	}
	fe, _ := fhir.AsError(refusal)
	out := make([]fhir.Issue, 0, len(fe.Issues))
	for _, is := range fe.Issues {
		if is.Severity == "" {
			is.Severity = fhir.SeverityError
		}
		out = append(out, is)
	}
	return out, nil
}

// HasErrors reports an error or fatal issue.
func HasErrors(issues []fhir.Issue) bool {
	for _, is := range issues {
		if is.Severity == fhir.SeverityError || is.Severity == fhir.SeverityFatal {
			return true
		}
	}
	return false
}
