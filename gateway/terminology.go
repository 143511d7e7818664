package gateway

import (
	"context"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/snomed"
	"github.com/signpost-fhir/signpost/terminology"
)

// The terminology operations (package terminology answers them; the
// CodeSystem, ValueSet and ConceptMap resources they use are read from
// the server's store at call time).

// terminologyPermissions are what every terminology operation needs: it
// reads code systems, value sets and concept maps, whichever the
// parameters name.
var terminologyPermissions = []Permission{
	{"CodeSystem", auth.Read}, {"ValueSet", auth.Read}, {"ConceptMap", auth.Read},
}

// RegisterTerminology serves CodeSystem/$lookup, CodeSystem/$validate-code,
// ValueSet/$validate-code, ValueSet/$expand and ConceptMap/$translate (type
// and, except $lookup, instance level; GET and POST), and checks the codes
// of navigation Tasks and allocation ServiceRequests. Call before Handler.
func (s *Server) RegisterTerminology(t *snomed.Terminology) {
	const def = "http://hl7.org/fhir/OperationDefinition/"
	reg := func(typ, name string, run OperationFunc, levels ...OperationLevel) {
		for _, l := range levels {
			s.RegisterOperation(Operation{Name: name, Level: l, Type: typ, Definition: def + typ + "-" + name, Idempotent: true, Run: run,
				Permissions: terminologyPermissions})
		}
	}
	s.terminology = t
	ops := terminology.Operations{T: t, Src: s.store}
	s.RegisterWriteCheck("Task", ops.NavigationCodeCheck)
	s.RegisterWriteCheck("ServiceRequest", ops.NavigationCodeCheck)
	reg("CodeSystem", "lookup", func(ctx context.Context, in OperationInput) ([]byte, error) {
		return ops.Lookup(ctx, in.Params)
	}, TypeLevel)
	validateCode := func(ctx context.Context, in OperationInput) ([]byte, error) {
		return ops.ValidateCode(ctx, in.Type, in.ID, in.Params)
	}
	reg("CodeSystem", "validate-code", validateCode, TypeLevel, InstanceLevel)
	reg("ValueSet", "validate-code", validateCode, TypeLevel, InstanceLevel)
	reg("ValueSet", "expand", func(ctx context.Context, in OperationInput) ([]byte, error) {
		return ops.Expand(ctx, in.ID, in.Params)
	}, TypeLevel, InstanceLevel)
	reg("ConceptMap", "translate", func(ctx context.Context, in OperationInput) ([]byte, error) {
		return ops.Translate(ctx, in.ID, in.Params)
	}, TypeLevel, InstanceLevel)
}

// expandValueSets is q with its :in, :not-in, :below and :above
// parameters expanded (terminology.ExpandValueSets), reading the value
// sets through src.
func (s *Server) expandValueSets(ctx context.Context, src snomed.Source, q *search.Query) (*search.Query, error) {
	return terminology.ExpandValueSets(ctx, s.terminology, src, q)
}
