package gateway

import (
	"context"
	"io"
	"net/http"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// $validate (R4 Resource-validate; interaction.Validate runs it), at type
// level ([type]/$validate) and instance level ([type]/[id]/$validate), on
// every served type. The answer is 200 with an OperationOutcome whether
// or not the resource is valid; a 4xx means the validation could not be
// performed.
//
// Permissions: mode create, update or delete needs that permission on
// the type; mode profile needs read; no mode needs any of read, create
// or update. On a patient-linked type the call is audited as an
// operation.

// validateDefinition is the canonical URL of R4's $validate.
const validateDefinition = interaction.ValidateDefinition

func (s *Server) validateRoute(req *request, level OperationLevel) (handlerFunc, error) {
	if req.method != http.MethodPost {
		return nil, methodNotAllowed(req.method, "$validate")
	}
	if level == InstanceLevel && !fhir.ValidID(req.id) {
		return nil, fhir.Errorf(fhir.CodeNotFound, "%q is not a valid id", req.id).WithStatus(http.StatusNotFound)
	}
	return s.validateOperation, nil
}

func (s *Server) validateOperation(req *request) (*response, error) {
	if auth.IsPatientLinked(req.typ) {
		req.audit = auditFor("operation", "E", req)
		req.audit.operation = "validate"
	}
	var data []byte
	if req.body != nil {
		var err error
		if data, err = io.ReadAll(req.body); err != nil {
			return nil, err
		}
	}
	in, err := interaction.ParseValidateInput(data, req.query, req.id)
	if err != nil {
		return nil, err
	}
	if err := s.validatePermission(req, in.Mode); err != nil {
		return nil, err
	}
	issues, err := interaction.Validate(req.ctx, interaction.Validation{
		Type: req.typ, ID: req.id, In: in, Strict: strictHandling(req.header),
		IfMatch: func() (store.Precondition, error) { return ifMatch(req.header) },
		Store:   s.store,
		Guard:   func(tx store.Tx) store.Tx { return s.tenancy.Wrap(req.principal, tx) },
		Read: func(ctx context.Context, typ, id string) (store.Version, error) {
			return s.tenancy.Wrap(req.principal, s.store).Read(ctx, typ, id)
		},
		Checks: s.checkIssues,
		Fixable: func(err error) bool {
			// What the client could fix in the content or the precondition.
			switch status, _, _ := errorResponse(err); status {
			case http.StatusBadRequest, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity:
				return true
			}
			return false
		},
	})
	if err != nil {
		return nil, err
	}
	if err := s.auditRead(req, req.audit); err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: fhir.Outcome(issues...)}, nil
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

// checkIssues are the issues of the checks registered for r's type; a
// check's refusal with a status below 500 is reported as its issues.
func (s *Server) checkIssues(ctx context.Context, r *fhir.Resource, strict bool) ([]fhir.Issue, error) {
	var issues []fhir.Issue
	for _, check := range s.writeChecks[r.Type()] {
		more, err := check(ctx, r, strict)
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
