package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// PATCH (R4 3.1.0.7) in two forms:
//
//   - JSON Patch (RFC 6902), application/json-patch+json, applied by
//     github.com/evanphx/json-patch/v5: it works on the raw JSON and
//     copies untouched values byte for byte, so a decimal 1.50 the patch
//     does not touch stays 1.50 (TestPatchKeepsDecimalText holds it to
//     that). A JSON array sent as application/json or fhir+json is taken
//     as JSON Patch too.
//   - FHIRPath Patch, a Parameters resource (application/fhir+json), for
//     the operations add, insert, delete, replace and move on paths made
//     of element names and [n] indexes ("Patient.name[0].given"). Paths
//     with functions (where(), ofType() ...) are answered 501, naming
//     the path.
//
// The patched resource is validated like any write, its resourceType and
// id cannot change, and it is written with If-Match: the client's, or the
// version the patch was applied to, so a concurrent write is never lost
// (the patch is then applied again to the new version, up to three
// times). Patches of one resource also take a lock on it, so concurrent
// patches queue rather than retry.

// patcher changes a resource's JSON.
type patcher interface {
	patch(doc []byte) ([]byte, error)
}

type jsonPatcher struct{ ops jsonpatch.Patch }

func (p jsonPatcher) patch(doc []byte) ([]byte, error) {
	out, err := p.ops.Apply(doc)
	if err != nil {
		return nil, fhir.Errorf(fhir.CodeProcessing, "the JSON Patch cannot be applied: %v", err).WithStatus(http.StatusUnprocessableEntity)
	}
	return out, nil
}

// parsePatch reads a PATCH body given as mediaType ("" when the client
// sent none).
func parsePatch(mediaType string, data []byte) (patcher, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fhir.Errorf(fhir.CodeStructure, "a patch body is required").WithStatus(http.StatusBadRequest)
	}
	if mediaType == jsonPatchType || trimmed[0] == '[' {
		return parseJSONPatch(trimmed)
	}
	params, err := fhir.ParseParameters(data)
	if err != nil {
		return nil, err
	}
	return parseFHIRPathPatch(params)
}

func parseJSONPatch(data []byte) (patcher, error) {
	if _, err := fhir.DecodeJSON(data); err != nil {
		return nil, err // strict JSON: duplicate members, bad UTF-8
	}
	ops, err := jsonpatch.DecodePatch(data)
	if err != nil {
		return nil, fhir.Errorf(fhir.CodeStructure, "not a JSON Patch document: %v", err).WithStatus(http.StatusBadRequest)
	}
	for i, op := range ops {
		switch op.Kind() {
		case "add", "remove", "replace", "move", "copy", "test":
		default:
			return nil, fhir.Errorf(fhir.CodeStructure, "JSON Patch operation %d: unknown op %q", i, op.Kind()).WithStatus(http.StatusBadRequest)
		}
		if _, err := op.Path(); err != nil {
			return nil, fhir.Errorf(fhir.CodeStructure, "JSON Patch operation %d has no path", i).WithStatus(http.StatusBadRequest)
		}
	}
	return jsonPatcher{ops: ops}, nil
}

// patchFromEntry reads the patch of a Bundle entry: a Binary holding a
// JSON Patch, or a FHIRPath Patch Parameters resource (R4 3.1.0.7).
func patchFromEntry(obj map[string]any) (patcher, error) {
	switch obj["resourceType"] {
	case "Binary":
		ct, _ := obj["contentType"].(string)
		if !strings.HasPrefix(ct, jsonPatchType) {
			return nil, fhir.Errorf(fhir.CodeNotSupported, "a PATCH entry's Binary must hold %s, not %q", jsonPatchType, ct).WithStatus(http.StatusUnsupportedMediaType)
		}
		s, _ := obj["data"].(string)
		data, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fhir.Errorf(fhir.CodeStructure, "the Binary's data is not base64: %v", err).WithStatus(http.StatusBadRequest)
		}
		return parseJSONPatch(data)
	case "Parameters":
		b, err := fhir.EncodeJSON(obj)
		if err != nil {
			return nil, err
		}
		params, err := fhir.ParseParameters(b)
		if err != nil {
			return nil, err
		}
		return parseFHIRPathPatch(params)
	}
	return nil, fhir.Errorf(fhir.CodeInvalid, "a PATCH entry's resource must be a Binary (JSON Patch) or a Parameters (FHIRPath Patch)").WithStatus(http.StatusBadRequest)
}

// patchIn applies p to typ/id and stores the result as its next version.
func (s *Server) patchIn(ctx context.Context, tx store.Tx, typ, id string, p patcher, pre store.Precondition, strict bool) (result, error) {
	// Patches of one resource take turns, so they apply to each other's
	// results instead of racing to a 409; PUTs do not take this lock,
	// which the version precondition below covers.
	if err := tx.Lock(ctx, patchLockKey(typ, id)); err != nil {
		return result{}, err
	}
	cur, err := tx.Read(ctx, typ, id)
	if err != nil {
		return result{}, err
	}
	if err := store.CheckPrecondition(typ, id, pre, cur.VersionID); err != nil {
		return result{}, err
	}
	// The patch sees secrets masked, as answers show them (secrets.go).
	masked, err := maskStored(typ, cur.Body)
	if err != nil {
		return result{}, err
	}
	doc, err := p.patch(masked)
	if err != nil {
		return result{}, err
	}
	r, err := fhir.ParseResource(doc)
	if err != nil {
		return result{}, fhir.Errorf(fhir.CodeProcessing, "the patched %s/%s is not a resource: %v", typ, id, err).WithStatus(http.StatusUnprocessableEntity)
	}
	if r.Type() != typ || r.ID() != id {
		return result{}, fhir.Errorf(fhir.CodeProcessing, "a patch cannot change resourceType or id (%s/%s became %s/%s)", typ, id, r.Type(), r.ID()).WithStatus(http.StatusUnprocessableEntity)
	}
	if err := s.validate(ctx, r, strict); err != nil {
		return result{}, err
	}
	implicit := pre.IfMatch == 0
	if implicit {
		pre.IfMatch = cur.VersionID
	}
	out, err := updateIn(ctx, tx, r, pre)
	if err != nil && implicit && errors.Is(err, fhir.ErrConflict) {
		return result{}, fhir.Errorf(fhir.CodeConflict, "%s/%s changed while the patch was applied; send it again", typ, id).WithStatus(http.StatusConflict).Wrap(errConcurrentWrite)
	}
	return out, err
}

// patchLockKey is the lock patches of typ/id take (criteria keys hold a
// "?", so the two never collide).
func patchLockKey(typ, id string) string { return typ + "/" + id }

// patchRetries bounds how often a patch without If-Match is applied
// again after a concurrent write.
const patchRetries = 3

// runPatch runs fn (which patches inside tx) in its own transaction,
// with its AuditEvent, again when a concurrent write got in first and the
// client did not pin the version.
func (s *Server) runPatch(req *request, fn func(tx store.Tx) (result, error)) (result, error) {
	for attempt := 0; ; attempt++ {
		out, err := s.write(req, true, func(tx store.Tx, _ bool) (result, error) { return fn(tx) })
		if err == nil || attempt == patchRetries-1 || !errors.Is(err, errConcurrentWrite) {
			return out, err
		}
	}
}

func (s *Server) readPatch(req *request) (patcher, store.Precondition, error) {
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
	p, err := parsePatch(req.bodyType, data)
	return p, pre, err
}

// patch is PATCH [type]/[id].
func (s *Server) patch(req *request) (*response, error) {
	req.audit = auditIf(req, "patch", "U")
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
	req.audit = auditIf(req, "patch", "U")
	if err := s.authorizeAll(req.principal, []Permission{{req.typ, auth.Update}, {req.typ, auth.Search}}); err != nil {
		return nil, err
	}
	crit, err := parseCriteria(req.typ, req.query)
	if err != nil {
		return nil, err
	}
	p, pre, err := s.readPatch(req)
	if err != nil {
		return nil, err
	}
	strict := strictHandling(req.header)
	out, err := s.runPatch(req, func(tx store.Tx) (result, error) {
		id, err := conditionalID(req.ctx, tx, crit, "conditional patch")
		if err != nil {
			return result{}, err
		}
		return s.patchIn(req.ctx, tx, req.typ, id, p, pre, strict)
	})
	if err != nil {
		return nil, err
	}
	req.id = out.version.ID
	return s.written(req, out), nil
}

// errPatchPath reports a FHIRPath Patch path outside the subset served.
func errPatchPath(path string) error {
	return fhir.Errorf(fhir.CodeNotSupported, "FHIRPath Patch path %q: only element names and [n] indexes are evaluated here (no functions such as where() or ofType()); use JSON Patch for this change", path).WithStatus(http.StatusNotImplemented)
}
