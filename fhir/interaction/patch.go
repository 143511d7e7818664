package interaction

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"

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

// JSONPatchType is the media type of a JSON Patch document.
const JSONPatchType = "application/json-patch+json"

// Patcher changes a resource's JSON.
type Patcher interface {
	Patch(doc []byte) ([]byte, error)
}

type jsonPatcher struct{ ops jsonpatch.Patch }

func (p jsonPatcher) Patch(doc []byte) ([]byte, error) {
	out, err := p.ops.Apply(doc)
	if err != nil {
		return nil, fhir.Errorf(fhir.CodeProcessing, "the JSON Patch cannot be applied: %v", err)
	}
	return out, nil
}

// ParsePatch reads a PATCH body given as mediaType ("" when the client
// sent none).
func ParsePatch(mediaType string, data []byte) (Patcher, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fhir.Errorf(fhir.CodeStructure, "a patch body is required")
	}
	if mediaType == JSONPatchType || trimmed[0] == '[' {
		return parseJSONPatch(trimmed)
	}
	params, err := fhir.ParseParameters(data)
	if err != nil {
		return nil, err
	}
	return parseFHIRPathPatch(params)
}

func parseJSONPatch(data []byte) (Patcher, error) {
	if _, err := fhir.DecodeJSON(data); err != nil {
		return nil, err // strict JSON: duplicate members, bad UTF-8
	}
	ops, err := jsonpatch.DecodePatch(data)
	if err != nil {
		return nil, fhir.Errorf(fhir.CodeStructure, "not a JSON Patch document: %v", err)
	}
	for i, op := range ops {
		switch op.Kind() {
		case "add", "remove", "replace", "move", "copy", "test":
		default:
			return nil, fhir.Errorf(fhir.CodeStructure, "JSON Patch operation %d: unknown op %q", i, op.Kind())
		}
		if _, err := op.Path(); err != nil {
			return nil, fhir.Errorf(fhir.CodeStructure, "JSON Patch operation %d has no path", i)
		}
	}
	return jsonPatcher{ops: ops}, nil
}

// PatchFromEntry reads the patch of a Bundle entry: a Binary holding a
// JSON Patch, or a FHIRPath Patch Parameters resource (R4 3.1.0.7).
func PatchFromEntry(obj map[string]any) (Patcher, error) {
	switch obj["resourceType"] {
	case "Binary":
		ct, _ := obj["contentType"].(string)
		if !strings.HasPrefix(ct, JSONPatchType) {
			return nil, fhir.Errorf(fhir.CodeNotSupported, "a PATCH entry's Binary must hold %s, not %q", JSONPatchType, ct).Because(fhir.DetailMediaType)
		}
		s, _ := obj["data"].(string)
		data, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fhir.Errorf(fhir.CodeStructure, "the Binary's data is not base64: %v", err)
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
	return nil, fhir.Errorf(fhir.CodeInvalid, "a PATCH entry's resource must be a Binary (JSON Patch) or a Parameters (FHIRPath Patch)")
}

// ErrConcurrentWrite marks a patch that lost a race with another write
// although the client did not pin a version: running it again is safe.
var ErrConcurrentWrite = errors.New("the resource changed while the patch was applied")

// PatchChecks are what the caller does around a patch: Prepare turns the
// stored body into what the patch applies to (secrets masked, as answers
// show them), Validate checks the patched resource like any write.
type PatchChecks struct {
	Prepare  func(typ string, stored []byte) ([]byte, error)
	Validate func(ctx context.Context, r *fhir.Resource) error
}

// Patch applies p to typ/id and stores the result as its next version.
func Patch(ctx context.Context, tx store.Tx, typ, id string, p Patcher, pre store.Precondition, checks PatchChecks) (Result, error) {
	// Patches of one resource take turns, so they apply to each other's
	// results instead of racing to a 409; PUTs do not take this lock,
	// which the version precondition below covers.
	if err := tx.Lock(ctx, PatchLockKey(typ, id)); err != nil {
		return Result{}, err
	}
	cur, err := tx.Read(ctx, typ, id)
	if err != nil {
		return Result{}, err
	}
	if err := store.CheckPrecondition(typ, id, pre, cur.VersionID); err != nil {
		return Result{}, err
	}
	doc := cur.Body
	if checks.Prepare != nil {
		if doc, err = checks.Prepare(typ, cur.Body); err != nil {
			return Result{}, err
		}
	}
	if doc, err = p.Patch(doc); err != nil {
		return Result{}, err
	}
	r, err := fhir.ParseResource(doc)
	if err != nil {
		return Result{}, fhir.Errorf(fhir.CodeProcessing, "the patched %s/%s is not a resource: %v", typ, id, err)
	}
	if r.Type() != typ || r.ID() != id {
		return Result{}, fhir.Errorf(fhir.CodeProcessing, "a patch cannot change resourceType or id (%s/%s became %s/%s)", typ, id, r.Type(), r.ID())
	}
	if checks.Validate != nil {
		if err := checks.Validate(ctx, r); err != nil {
			return Result{}, err
		}
	}
	implicit := pre.IfMatch == 0
	if implicit {
		pre.IfMatch = cur.VersionID
	}
	out, err := Update(ctx, tx, r, pre)
	if err != nil && implicit && errors.Is(err, fhir.ErrConflict) {
		return Result{}, fhir.Errorf(fhir.CodeConflict, "%s/%s changed while the patch was applied; send it again", typ, id).Wrap(ErrConcurrentWrite)
	}
	return out, err
}

// PatchLockKey is the lock patches of typ/id take (criteria keys hold a
// "?", so the two never collide).
func PatchLockKey(typ, id string) string { return typ + "/" + id }

// errPatchPath reports a FHIRPath Patch path outside the subset served.
func errPatchPath(path string) error {
	return fhir.Errorf(fhir.CodeNotSupported, "FHIRPath Patch path %q: only element names and [n] indexes are evaluated here (no functions such as where() or ofType()); use JSON Patch for this change", path)
}
