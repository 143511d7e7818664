package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/signpost-fhir/signpost/audit"
	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/secrets"
)

// PATCH (R4 3.1.0.7): the REST handlers. Parsing and applying a JSON
// Patch or FHIRPath Patch is package interaction's (fhir/interaction/patch.go).

// patchRetries bounds how often a patch without If-Match is applied
// again after a concurrent write.
const patchRetries = 3

// runPatch runs fn (which patches inside tx) in its own transaction,
// with its AuditEvent, again when a concurrent write got in first and the
// client did not pin the version.
func (s *Server) runPatch(req *request, fn func(tx store.Tx) (result, error)) (result, error) {
	for attempt := 0; ; attempt++ {
		out, err := s.write(req, true, func(tx store.Tx, _ bool) (result, error) { return fn(tx) })
		if err == nil || attempt == patchRetries-1 || !errors.Is(err, interaction.ErrConcurrentWrite) {
			return out, err
		}
	}
}

func (s *Server) readPatch(req *request) (interaction.Patcher, store.Precondition, error) {
	pre, err := ifMatch(req.header)
	if err != nil {
		return nil, pre, err
	}
	if req.body == nil {
		return nil, pre, fhir.Errorf(fhir.CodeStructure, "a patch body is required").WithStatus(http.StatusBadRequest)
	}
	data, err := io.ReadAll(req.body)
	if err != nil {
		return nil, pre, err
	}
	p, err := interaction.ParsePatch(req.bodyType, data)
	return p, pre, err
}

// patch is PATCH [type]/[id].
func (s *Server) patch(req *request) (*response, error) {
	req.audit = audit.For("patch", "U", req.typ, req.id)
	if err := s.authorize(req.principal, req.typ, auth.Update); err != nil {
		return nil, err
	}
	p, pre, err := s.readPatch(req)
	if err != nil {
		return nil, err
	}
	strict := strictHandling(req.header)
	out, err := s.runPatch(req, func(tx store.Tx) (result, error) {
		return s.patchIn(req.ctx, tx, req.typ, req.id, p, pre, strict)
	})
	if err != nil {
		return nil, err
	}
	return s.written(req, out), nil
}

// conditionalPatch is PATCH [type]?criteria: the one match is patched;
// none is a 404, several a 412.
func (s *Server) conditionalPatch(req *request) (*response, error) {
	req.audit = audit.For("patch", "U", req.typ, req.id)
	if err := s.authorizeAll(req.principal, []Permission{{req.typ, auth.Update}, {req.typ, auth.Search}}); err != nil {
		return nil, err
	}
	crit, err := interaction.ParseCriteria(req.typ, req.query)
	if err != nil {
		return nil, err
	}
	p, pre, err := s.readPatch(req)
	if err != nil {
		return nil, err
	}
	strict := strictHandling(req.header)
	out, err := s.runPatch(req, func(tx store.Tx) (result, error) {
		id, err := interaction.ConditionalID(req.ctx, tx, crit, "conditional patch")
		if err != nil {
			return result{}, err
		}
		return s.patchIn(req.ctx, tx, req.typ, id, p, pre, strict)
	})
	if err != nil {
		return nil, err
	}
	req.id = out.Version.ID
	return s.written(req, out), nil
}

// patchIn applies p to typ/id in tx, secrets masked as answers show them
// (package secrets) and the result validated like any write.
func (s *Server) patchIn(ctx context.Context, tx store.Tx, typ, id string, p interaction.Patcher, pre store.Precondition, strict bool) (result, error) {
	return interaction.Patch(ctx, tx, typ, id, p, pre, s.patchChecks(strict))
}

// patchChecks are what a patched resource goes through: secrets masked
// as answers show them (package secrets), and validation like any write.
func (s *Server) patchChecks(strict bool) interaction.PatchChecks {
	return interaction.PatchChecks{
		Prepare:  secrets.MaskStored,
		Validate: func(ctx context.Context, r *fhir.Resource) error { return s.writeChecks.Validate(ctx, r, strict) },
	}
}
