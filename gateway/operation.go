package gateway

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/signpost-fhir/signpost/audit"
	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/capability"
	"github.com/signpost-fhir/signpost/fhir/interaction"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// OperationLevel says where an operation is invoked: [base]/$op,
// [base]/[type]/$op or [base]/[type]/[id]/$op.
type OperationLevel = capability.Level

const (
	SystemLevel   = capability.SystemLevel
	TypeLevel     = capability.TypeLevel
	InstanceLevel = capability.InstanceLevel
)

// OperationInput is one invocation: the parameters from the query string
// (GET) or the Parameters body (POST), merged.
type OperationInput struct {
	Type string
	ID   string
	// Base is the FHIR base URL as the client sees it, for the fullUrl
	// and links of what the operation returns.
	Base string
	// Params holds the Parameters resource (parameter entries as decoded
	// JSON objects); query parameters appear as valueString entries.
	Params *fhir.Parameters
	// Principal is the caller. The gateway has checked Permissions; rules
	// that depend on the resources involved (tenancy, navigator tier) are
	// the operation's.
	Principal *auth.Principal
	// AuditIn, when not nil, records the operation's AuditEvent on tx: an
	// operation that writes calls it inside its write's transaction, so
	// that the record and the change commit together and an answer lost
	// on the way back cannot leave a change without its record. An
	// operation that does not call it is audited after it returns.
	AuditIn func(ctx context.Context, tx store.Tx) error
	// Body and Header are the request's body and headers, for an
	// operation that takes a resource other than Parameters (Message).
	Body   []byte
	Header http.Header
	// AuditAbout, for a Message operation, names what its AuditEvent is
	// about (the resource stored, the practices whose data it concerns);
	// call before AuditIn.
	AuditAbout func(typ, id string, version int64, practices ...string)
}

// OperationAnswer is what a Message operation answers: its own status,
// headers and body (BaRS answers its errors with its own
// OperationOutcomes, and mirrors request headers).
type OperationAnswer struct {
	Status int
	Header http.Header
	Body   []byte
}

// OperationFunc runs an operation and returns the resource to answer with.
type OperationFunc func(ctx context.Context, in OperationInput) ([]byte, error)

// Operation declares one operation for routing and the CapabilityStatement.
type Operation struct {
	Name  string // without the $
	Level OperationLevel
	// Type is the resource type for type and instance operations.
	Type string
	// Definition is the canonical URL of the OperationDefinition.
	Definition string
	// Idempotent operations may be invoked with GET.
	Idempotent bool
	// Permissions are what a caller needs to invoke the operation (for
	// example $navigate on Task: update on Task, read on
	// HealthcareService). An operation that declares none is open to the
	// developer only (fail closed).
	Permissions []Permission
	Run         OperationFunc
	// Message, instead of Run, serves an operation whose body is a
	// resource other than Parameters (a BaRS message Bundle): it gets the
	// body as sent and answers with its own status and headers.
	Message func(ctx context.Context, in OperationInput) (*OperationAnswer, error)
}

type opKey struct {
	level OperationLevel
	typ   string
	name  string
}

// RegisterOperation adds an operation; call before Handler.
func (s *Server) RegisterOperation(op Operation) {
	if s.ops == nil {
		s.ops = map[opKey]Operation{}
	}
	s.ops[opKey{op.Level, op.Type, op.Name}] = op
}

// operations lists the registered operations in a stable order.
func (s *Server) operations() []Operation {
	out := make([]Operation, 0, len(s.ops))
	for _, op := range s.ops {
		out = append(out, op)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// operation routes [..]/$name to its handler.
func (s *Server) operation(req *request, level OperationLevel, seg string) (handlerFunc, error) {
	name := strings.TrimPrefix(seg, "$")
	if h, ok, err := s.builtinOperation(req, level, name); ok {
		return h, err
	}
	op, ok := s.ops[opKey{level, req.typ, name}]
	if !ok {
		return nil, fhir.Errorf(fhir.CodeNotSupported, "operation $%s is not served here", name)
	}
	switch req.method {
	case http.MethodPost:
	case http.MethodGet, http.MethodHead:
		if !op.Idempotent {
			return nil, methodNotAllowed(req.method, "$"+name)
		}
	default:
		return nil, methodNotAllowed(req.method, "$"+name)
	}
	return func(req *request) (*response, error) {
		perms := op.Permissions
		if auth.IsPatientLinked(req.typ) || touchesPatientData(perms) {
			req.audit = audit.Operation(name, "E", req.typ, req.id)
		}
		if len(perms) == 0 && !req.principal.Dev {
			return nil, fhir.Errorf(fhir.CodeForbidden, "operation $%s declares no permissions, so only the developer may invoke it", name)
		}
		if err := s.authorizeAll(req.principal, perms); err != nil {
			return nil, err
		}
		if op.Message != nil {
			return s.messageOperation(req, op)
		}
		params, err := operationParams(req)
		if err != nil {
			return nil, err
		}
		in := OperationInput{Type: req.typ, ID: req.id, Base: req.base, Params: params, Principal: req.principal}
		var inTx bool
		if req.audit != nil {
			in.AuditIn = s.auditIn(req, &inTx)
		}
		body, err := op.Run(req.ctx, in)
		if err != nil {
			return nil, err
		}
		if inTx {
			// Committed with the operation's write.
			req.audited = true
		} else if err := s.auditRead(req, req.audit, http.StatusOK); err != nil {
			return nil, err
		}
		return &response{status: http.StatusOK, body: body}, nil
	}, nil
}

// messageOperation runs a Message operation. A message may change
// patient data whatever its type, so it is always audited: in the
// operation's transaction when it calls AuditIn, else after it answers (a
// refusal answered with the operation's own OperationOutcome as a
// failure).
func (s *Server) messageOperation(req *request, op Operation) (*response, error) {
	if req.audit == nil {
		req.audit = audit.Operation(op.Name, "E", req.typ, req.id)
	}
	if req.audit.Type == "" {
		req.audit.Type = "MessageHeader"
	}
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	var inTx bool
	in := OperationInput{Type: req.typ, ID: req.id, Base: req.base, Principal: req.principal, Body: body, Header: req.header,
		AuditAbout: func(typ, id string, version int64, practices ...string) {
			req.audit.Type, req.audit.ID, req.audit.Version, req.audit.Practices = typ, id, version, practices
		},
		AuditIn: s.auditIn(req, &inTx)}
	ans, err := op.Message(req.ctx, in)
	if err != nil {
		return nil, err
	}
	switch {
	case inTx:
		req.audited = true
	case ans.Status >= 400:
		s.auditFailure(req, req.audit, &fhir.Error{Status: ans.Status, Issues: []fhir.Issue{{Severity: fhir.SeverityError, Code: fhir.CodeProcessing,
			Diagnostics: "the message was refused"}}})
		req.audited = true
	default:
		if err := s.auditRead(req, req.audit, http.StatusOK); err != nil {
			return nil, err
		}
	}
	return &response{status: ans.Status, header: ans.Header, body: ans.Body}, nil
}

// auditIn is an operation's AuditIn: it records req's AuditEvent on tx,
// in the operation's write transaction, and notes that it did (inTx).
func (s *Server) auditIn(req *request, inTx *bool) func(ctx context.Context, tx store.Tx) error {
	return func(ctx context.Context, tx store.Tx) error {
		if err := s.recordAudit(ctx, tx, req, *req.audit, http.StatusOK); err != nil {
			return err
		}
		*inTx = true
		return nil
	}
}

// operationParams merges query parameters and a Parameters body
// (interaction.OperationParams).
func operationParams(req *request) (*fhir.Parameters, error) {
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	return interaction.OperationParams(body, req.query)
}

// operationDefinitions generates (fhir/capability) the OperationDefinition
// of every registered operation whose definition is one of Signpost's own
// ([CanonicalBase]/OperationDefinition/[id]), by id, so that each one the
// CapabilityStatement names can be read at [base]/OperationDefinition/[id].
// A definition the store holds under that id (the directory's $match) is
// served instead.
func (s *Server) operationDefinitions() map[string][]byte {
	var ops []capability.Declared
	for _, op := range s.operations() {
		ops = append(ops, capability.Declared{Name: op.Name, Level: op.Level, Type: op.Type, Definition: op.Definition, Idempotent: op.Idempotent})
	}
	out, errs := capability.OperationDefinitions(s.opts.CanonicalBase+"/OperationDefinition/", ops, s.started, s.opts.Version)
	for _, err := range errs {
		s.log.Error("an OperationDefinition cannot be generated", "error", err.Error())
	}
	return out
}
