package gateway

import (
	"context"
	"net/http"

	"github.com/signpost-fhir/signpost/access"
	"github.com/signpost-fhir/signpost/audit"
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
		req.audit = audit.Operation("validate", "E", req.typ, req.id)
	}
	data, err := readBody(req)
	if err != nil {
		return nil, err
	}
	in, err := interaction.ParseValidateInput(data, req.query, req.id)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeAny(req.principal, permissions(access.Validate(req.typ, in.Mode))); err != nil {
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
		Checks: s.writeChecks.Issues,
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
	if err := s.auditRead(req, req.audit, http.StatusOK); err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: fhir.Outcome(issues...)}, nil
}
