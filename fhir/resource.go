package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Resource is one FHIR resource held losslessly as the JSON tree the client
// sent (see the package doc). Its methods touch only the elements the server
// owns: id, meta.versionId and meta.lastUpdated.
type Resource struct {
	obj map[string]any
	// size is the length of the JSON it was parsed from (0 if built):
	// what its encoding will about need, so encoding it grows no buffer.
	size int
}

// ValidID reports whether s is a well-formed FHIR id (R4 id datatype:
// [A-Za-z0-9\-\.]{1,64}).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !(c >= '0' && c <= '9') && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// validTypeName reports whether s has the shape of a resource type name:
// ^[A-Z][A-Za-z]{1,63}$.
func validTypeName(s string) bool {
	if len(s) < 2 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLetter(s[i]) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }

// ParseResource decodes one resource. Malformed JSON, a body that is not an
// object, a missing or malformed resourceType, or a malformed id is a
// structure error (400); nothing else is checked here (see Validate).
func ParseResource(data []byte) (*Resource, error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, Errorf(CodeStructure, "%v", err).Because(DetailMalformed)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, Errorf(CodeStructure, "a resource must be a JSON object").Because(DetailMalformed)
	}
	r, err := ResourceFromObject(obj)
	if err != nil {
		return nil, err
	}
	r.size = len(data)
	return r, nil
}

// ResourceFromObject wraps a decoded JSON object (for example a Bundle
// entry's resource) after the same checks as ParseResource.
func ResourceFromObject(obj map[string]any) (*Resource, error) {
	rt, ok := obj["resourceType"].(string)
	if !ok {
		return nil, Errorf(CodeStructure, "resourceType is missing or not a string").At("resourceType").Because(DetailMalformed)
	}
	if !validTypeName(rt) {
		return nil, Errorf(CodeStructure, "resourceType %q is not a resource type name", rt).At("resourceType").Because(DetailMalformed)
	}
	if id, present := obj["id"]; present {
		s, ok := id.(string)
		if !ok || !ValidID(s) {
			return nil, Errorf(CodeValue, "id must be 1-64 letters, digits, '-' or '.'").At(rt + ".id").Because(DetailMalformed)
		}
	}
	return &Resource{obj: obj}, nil
}

// Type is the resourceType.
func (r *Resource) Type() string { s, _ := r.obj["resourceType"].(string); return s }

// ID is the logical id, or "" when the resource has none.
func (r *Resource) ID() string { s, _ := r.obj["id"].(string); return s }

// SetID sets the logical id.
func (r *Resource) SetID(id string) { r.obj["id"] = id }

// Object is the resource's JSON tree. Callers may read it; code that
// changes it owns the consequences for losslessness.
func (r *Resource) Object() map[string]any { return r.obj }

// VersionID is meta.versionId, or "".
func (r *Resource) VersionID() string {
	m, _ := r.obj["meta"].(map[string]any)
	s, _ := m["versionId"].(string)
	return s
}

// InstantFormat is how the server writes instants it owns: UTC with
// microseconds, the precision both stores keep.
const InstantFormat = "2006-01-02T15:04:05.000000Z07:00"

// Stamp writes the server-owned elements: id, meta.versionId and
// meta.lastUpdated. Every other meta element the client sent (profile, tag,
// security, source, extensions) is kept.
func (r *Resource) Stamp(id string, version int64, lastUpdated time.Time) {
	r.obj["id"] = id
	m, ok := r.obj["meta"].(map[string]any)
	if !ok {
		m = make(map[string]any, 2)
		r.obj["meta"] = m
	}
	m["versionId"] = strconv.FormatInt(version, 10)
	m["lastUpdated"] = lastUpdated.UTC().Truncate(time.Microsecond).Format(InstantFormat)
	// A client's _versionId/_lastUpdated extensions describe values it does
	// not own any more.
	delete(m, "_versionId")
	delete(m, "_lastUpdated")
}

// StampUpdate stamps r as version at at (an update of the current version
// curVersion, curAt, stored as curBody) and encodes it, in one encoding of
// the resource: same reports that r stamped as the current version
// encodes to exactly curBody (the encoding is canonical, so the content is
// unchanged); r is then left stamped as the current version and body is
// curBody. The two encodings differ in meta only, which comes third in
// both (after resourceType and id), so meta is encoded both ways and the
// rest once.
func (r *Resource) StampUpdate(curVersion int64, curAt time.Time, curBody []byte, version int64, at time.Time) (body []byte, same bool, err error) {
	id := r.ID()
	r.Stamp(id, curVersion, curAt)
	meta := r.obj["meta"].(map[string]any)
	curMeta, err := appendJSON(nil, meta)
	if err != nil {
		return nil, false, err
	}
	r.Stamp(id, version, at)
	nextMeta, err := appendJSON(nil, meta)
	if err != nil {
		return nil, false, err
	}
	r.obj["meta"] = RawJSON(nextMeta)
	body, err = appendJSON(make([]byte, 0, len(curBody)+64), r.obj)
	r.obj["meta"] = meta
	if err != nil {
		return nil, false, err
	}
	head := appendString(append(appendString([]byte(`{"resourceType":`), r.Type()), `,"id":`...), id)
	head = append(head, `,"meta":`...)
	off, rest := len(head), len(head)+len(nextMeta)
	if len(body) < rest || !bytes.Equal(body[:off], head) || !bytes.Equal(body[off:rest], nextMeta) {
		// Not the layout of a resource (a resourceType that is not a
		// string): compare whole encodings.
		r.Stamp(id, curVersion, curAt)
		if was, err := r.MarshalJSON(); err != nil || bytes.Equal(was, curBody) {
			return curBody, err == nil, err
		}
		r.Stamp(id, version, at)
		return body, false, nil
	}
	if len(curBody) == off+len(curMeta)+len(body)-rest &&
		bytes.Equal(curBody[:off], head) &&
		bytes.Equal(curBody[off:off+len(curMeta)], curMeta) &&
		bytes.Equal(curBody[off+len(curMeta):], body[rest:]) {
		r.Stamp(id, curVersion, curAt)
		return curBody, true, nil
	}
	return body, false, nil
}

// MarshalJSON encodes the resource compactly (see appendJSON for order).
func (r *Resource) MarshalJSON() ([]byte, error) {
	// Room for what it was parsed from and the server's meta; a resource
	// built in memory (an AuditEvent, an allocation, a Provenance: 1.5 to
	// 3.5 KB) starts with 4 KB rather than growing to it.
	n := 4096
	if r.size > 0 {
		n = r.size + 128
	}
	return appendJSON(make([]byte, 0, n), r.obj)
}

// Clone is a deep copy, for code that must change a resource it does not own.
func (r *Resource) Clone() *Resource {
	return &Resource{obj: cloneValue(r.obj).(map[string]any), size: r.size}
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(x))
		for k, e := range x {
			c[k] = cloneValue(e)
		}
		return c
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = cloneValue(e)
		}
		return c
	default:
		return v
	}
}

// Generate encodes a resource the gateway itself builds (a samply struct,
// a map or any struct encoding/json understands) as valid R4 JSON: null,
// "" , empty objects and empty arrays are dropped at every depth, since R4
// JSON forbids them and Go zero values produce them. Never build resources
// with choice elements inside backbone elements from samply structs (they
// marshal every variant with a zero value); build those as maps.
//
// A tree of JSON values (maps, slices, strings, booleans, numbers) and
// Resources is copied as it is pruned, without a round trip through text;
// anything else in it goes through encoding/json and back. Either way
// the result is the same, and v is never changed.
func Generate(v any) ([]byte, error) {
	tree, err := generateTree(v)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	tree, _ = prune(tree)
	return appendJSON(make([]byte, 0, 4096), tree)
}

// generateTree is v as a fresh JSON tree (the decoder's types), ready to
// prune: containers are copied, never shared with v.
func generateTree(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, json.Number:
		return x, nil
	case string:
		if !utf8.ValidString(x) {
			return marshalTree(x)
		}
		return x, nil
	case int:
		return json.Number(strconv.Itoa(x)), nil
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if !utf8.ValidString(k) {
				return marshalTree(x)
			}
			t, err := generateTree(e)
			if err != nil {
				return nil, err
			}
			out[k] = t
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			t, err := generateTree(e)
			if err != nil {
				return nil, err
			}
			out[i] = t
		}
		return out, nil
	case *Resource:
		if x == nil {
			return nil, nil
		}
		return generateTree(x.obj)
	case RawJSON:
		return x, nil
	}
	// float64 too: encoding/json's rendering of it is the one kept.
	return marshalTree(v)
}

// RawJSON is JSON text already in this codec's form, such as a body the
// store returned: compact, valid, with no empty members. Generate copies
// it into its output as it is, without decoding it again, so a response
// that carries stored resources (the $navigate result) costs no parse and
// no second encoding of them. Only bytes the codec wrote belong here;
// anything else goes through Generate as a tree.
type RawJSON []byte

// marshalTree is v through encoding/json and the decoder.
func marshalTree(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return decodeGo(raw)
}

// GenerateResource is Generate returning a Resource.
func GenerateResource(v any) (*Resource, error) {
	b, err := Generate(v)
	if err != nil {
		return nil, err
	}
	return ParseResource(b)
}

// Prune drops null, "", empty objects and empty arrays at every depth of
// a JSON tree (R4 JSON forbids them); it reports false when v itself is
// empty. Objects and arrays are changed in place.
func Prune(v any) (any, bool) { return prune(v) }

// prune drops empty members; it reports false when v itself is empty.
func prune(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		// v, not x: boxing x again would copy the string header to the
		// heap for every string of the tree.
		return v, x != ""
	case RawJSON:
		return v, len(x) > 0
	case map[string]any:
		for k, e := range x {
			if pe, keep := prune(e); keep {
				if _, leaf := e.(string); !leaf {
					x[k] = pe
				}
			} else {
				delete(x, k)
			}
		}
		return x, len(x) > 0
	case []any:
		out := x[:0]
		for _, e := range x {
			if pe, keep := prune(e); keep {
				out = append(out, pe)
			}
		}
		if len(out) == len(x) {
			return v, len(out) > 0 // the same slice: not boxed again
		}
		return out, len(out) > 0
	default:
		return v, true
	}
}

// Equal reports whether two JSON trees have the same meaning: same members
// regardless of order, same array order, numbers compared by their exact
// text (1.50 and 1.5 differ: FHIR decimals carry precision).
func Equal(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, e := range x {
			f, ok := y[k]
			if !ok || !Equal(e, f) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

// DecodeJSON decodes any JSON document with the same strict rules as
// ParseResource (for Parameters bodies, Bundles and tests).
func DecodeJSON(data []byte) (any, error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, Errorf(CodeStructure, "%v", err).Because(DetailMalformed)
	}
	return v, nil
}

// DecodeObject decodes a JSON object (a stored body, say) with the rules
// of DecodeJSON; any other JSON value is a structure error.
func DecodeObject(data []byte) (map[string]any, error) {
	v, err := DecodeJSON(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, Errorf(CodeStructure, "the JSON document is not an object").Because(DetailMalformed)
	}
	return m, nil
}

// EncodeJSON encodes a JSON tree the way resources are encoded.
func EncodeJSON(v any) ([]byte, error) { return appendJSON(nil, v) }

// RewriteReferences replaces, at every depth of a JSON tree, each
// Reference.reference string that to maps (to reports false to keep it).
func RewriteReferences(v any, to func(ref string) (string, bool)) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if s, ok := c.(string); ok && k == "reference" {
				if n, ok := to(s); ok {
					x[k] = n
				}
				continue
			}
			RewriteReferences(c, to)
		}
	case []any:
		for _, c := range x {
			RewriteReferences(c, to)
		}
	}
}
