package gateway

import (
	"github.com/signpost-fhir/signpost/audit"
	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// The REST handlers of the conditional interactions.

// conditionalRequest checks that the caller may search the type and do
// action on it, and reads the request's criteria and If-Match.
func (s *Server) conditionalRequest(req *request, action auth.Action) (criteria, store.Precondition, error) {
	if err := s.authorizeAll(req.principal, []Permission{{req.typ, action}, {req.typ, auth.Search}}); err != nil {
		return criteria{}, store.Precondition{}, err
	}
	crit, err := interaction.ParseCriteria(req.typ, req.query)
	if err != nil {
		return criteria{}, store.Precondition{}, err
	}
	pre, err := ifMatch(req.header)
	return crit, pre, err
}

func (s *Server) conditionalUpdate(req *request) (*response, error) {
	req.audit = audit.For("update", "U", req.typ, req.id)
	crit, pre, err := s.conditionalRequest(req, auth.Update)
	if err != nil {
		return nil, err
	}
	r, err := s.readResource(req)
	if err != nil {
		return nil, err
	}
	out, err := s.write(req, true, func(tx store.Tx, _ bool) (result, error) {
		// a retried attempt starts from the body as sent
		return interaction.ConditionalUpdate(req.ctx, tx, r.Clone(), crit, pre)
	})
	if err != nil {
		return nil, err
	}
	req.id = out.Version.ID
	return s.written(req, out), nil
}

func (s *Server) conditionalDelete(req *request) (*response, error) {
	req.audit = audit.For("delete", "D", req.typ, req.id)
	crit, pre, err := s.conditionalRequest(req, auth.Delete)
	if err != nil {
		return nil, err
	}
	out, err := s.write(req, true, func(tx store.Tx, _ bool) (result, error) {
		return interaction.ConditionalDelete(req.ctx, tx, req.typ, crit, pre)
	})
	if err != nil {
		return nil, err
	}
	req.id = out.Version.ID
	return s.deleted(req, out), nil
}
