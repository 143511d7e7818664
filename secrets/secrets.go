package secrets

import (
	"bytes"
	"slices"
	"strconv"
	"strings"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/internal/sealed"
)

// Secrets are not data.
//
// Endpoint.header and Subscription.channel.header hold what the gateway
// sends the receiver (typically "Authorization: Bearer ..."). They are
// stored as written, because delivery (clinicalsystem) and notification
// send them, but they are write-only through the API:
//
//   - every answer under /fhir passes through Mask (the gateway's fhirRoute), so
//     read, vread, search, history, _include/_revinclude, batch and
//     transaction responses, Prefer: return=representation and operation
//     results alike show each header as "Name: ******", and the resource
//     carries the security label MASKED (v3-ObservationValue) in
//     meta.security;
//   - a write that sends a masked header back keeps the stored value of
//     that header name, so a read-modify-write round trip keeps the
//     secret; the MASKED label is the server's and is never stored;
//   - PATCH applies to the masked version, so a patch's test operation or
//     FHIRPath condition cannot probe a secret;
//   - setting, changing or removing a header, or sending a stored secret
//     to another address (Endpoint.address, Subscription.channel.endpoint),
//     needs an administrator (role admin) acting for the practice the
//     resource belongs to (a Subscription's practice label, an Endpoint's
//     managingOrganization), or development mode.

// secretMask replaces a header's value in every answer.
const secretMask = "******"

// maskedLabel marks a resource whose secrets an answer left out.
var maskedLabel = map[string]any{
	"system":  "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
	"code":    "MASKED",
	"display": "masked",
}

// Holds reports whether resources of typ carry header secrets.
func Holds(typ string) bool { return typ == "Endpoint" || typ == "Subscription" }

// secretHeaders are the header strings of a resource of typ (Endpoint.header,
// Subscription.channel.header) and where they sit; nil when it has none.
func secretHeaders(obj map[string]any) (list []any, set func([]any)) {
	switch obj["resourceType"] {
	case "Endpoint":
		list, _ = obj["header"].([]any)
		return list, func(l []any) { obj["header"] = l }
	case "Subscription":
		ch, _ := obj["channel"].(map[string]any)
		if ch == nil {
			return nil, nil
		}
		list, _ = ch["header"].([]any)
		return list, func(l []any) { ch["header"] = l }
	}
	return nil, nil
}

// headerName is the name part of an HTTP header line ("" without a colon).
func headerName(h string) string {
	name, _, ok := strings.Cut(h, ":")
	if !ok {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(name))
}

// maskHeader is h as answers show it.
func maskHeader(h string) string {
	name, _, ok := strings.Cut(h, ":")
	if !ok {
		return secretMask
	}
	return strings.TrimSpace(name) + ": " + secretMask
}

// isMasked reports whether h is a masked header as answers show it.
func isMasked(h string) bool {
	if h == secretMask {
		return true
	}
	_, v, ok := strings.Cut(h, ":")
	return ok && strings.TrimSpace(v) == secretMask
}

// Mask is an answer body with every secret header masked, at any
// depth (Bundle entries, contained resources, Parameters). A body that
// cannot hold one is returned as it is, without decoding.
func Mask(body []byte) ([]byte, error) {
	if !bytes.Contains(body, []byte(`"header"`)) {
		return body, nil
	}
	tree, err := fhir.DecodeJSON(body)
	if err != nil {
		// Every answer body is the gateway's own JSON; one that does not
		// decode is not sent, in case it holds a secret.
		return nil, err
	}
	if !maskTree(tree) {
		return body, nil
	}
	return fhir.EncodeJSON(tree)
}

// maskTree masks the secrets in a JSON tree in place and reports whether
// it changed anything.
func maskTree(v any) bool {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		if list, set := secretHeaders(x); len(list) > 0 {
			masked := make([]any, len(list))
			for i, item := range list {
				s, _ := item.(string)
				masked[i] = maskHeader(s)
			}
			set(masked)
			addMaskedLabel(x)
			changed = true
		}
		for _, c := range x {
			if maskTree(c) {
				changed = true
			}
		}
	case []any:
		for _, c := range x {
			if maskTree(c) {
				changed = true
			}
		}
	}
	return changed
}

func addMaskedLabel(obj map[string]any) {
	meta, _ := obj["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["meta"] = meta
	}
	list, _ := meta["security"].([]any)
	for _, item := range list {
		if isMaskedLabel(item) {
			return
		}
	}
	label := make(map[string]any, len(maskedLabel))
	for k, v := range maskedLabel {
		label[k] = v
	}
	meta["security"] = append(list, label)
}

func isMaskedLabel(item any) bool {
	c, _ := item.(map[string]any)
	return c != nil && c["system"] == maskedLabel["system"] && c["code"] == maskedLabel["code"]
}

// MaskStored is a stored body as a patch sees it: masked, so the patch
// cannot test a secret (Keep restores what it leaves masked).
func MaskStored(typ string, body []byte) ([]byte, error) {
	if !Holds(typ) {
		return body, nil
	}
	return Mask(body)
}

// Keep readies r, a new version of a secret-holding resource, for
// the store: masked headers get their stored values back (from
// storedBody, nil for a create), the MASKED label is dropped, and a
// change of secrets, or of where a kept secret goes, needs the owning
// practice's administrator. owner is the practice the new version
// belongs to; storedOwner the stored version's.
//
// With box, header values are stored sealed (internal/sealed): values are
// compared opened, and every value is sealed before the store sees it.
func Keep(p *auth.Principal, r *fhir.Resource, storedBody []byte, owner, storedOwner string, box *sealed.Box) error {
	obj := r.Object()
	dropMaskedLabel(obj)
	list, set := secretHeaders(obj)
	var stored []string
	var storedDest string
	if storedBody != nil {
		if sv, err := fhir.DecodeJSON(storedBody); err == nil {
			if so, ok := sv.(map[string]any); ok {
				l, _ := secretHeaders(so)
				for _, item := range l {
					s, _ := item.(string)
					stored = append(stored, s)
				}
				storedDest = destination(so)
			}
		}
	}
	if box != nil && set != nil && len(list) > 0 {
		defer func() {
			for i, item := range list {
				if h, ok := item.(string); ok {
					list[i] = sealHeader(box, h)
				}
			}
			set(list)
		}()
	}
	storedOpen := make([]string, len(stored))
	for i, h := range stored {
		storedOpen[i] = normHeader(openHeader(box, h))
	}
	used := make([]bool, len(stored))
	var now []string
	keptAny := false
	for i, item := range list {
		h, _ := item.(string)
		if isMasked(h) {
			j := slices.IndexFunc(stored, func(s string) bool { return headerName(s) == headerName(h) })
			for j >= 0 && used[j] {
				k := slices.IndexFunc(stored[j+1:], func(s string) bool { return headerName(s) == headerName(h) })
				if k < 0 {
					j = -1
					break
				}
				j += 1 + k
			}
			if j < 0 {
				return fhir.Errorf(fhir.CodeBusinessRule, "%s header %q is masked and no stored header of that name is there to keep; send the value", r.Type(), h).
					At(headerPath(r.Type(), i))
			}
			used[j] = true
			list[i] = stored[j]
			h = storedOpen[j]
			keptAny = true
		}
		now = append(now, normHeader(h))
	}
	if set != nil && len(list) > 0 {
		set(list)
	}
	changed := !slices.Equal(now, storedOpen)
	moved := keptAny && destination(obj) != storedDest
	if !changed && !moved {
		return nil
	}
	what := "set or change its headers"
	if !changed {
		what = "send its stored headers to another address"
	}
	for _, practice := range []string{owner, storedOwner} {
		if maySetSecrets(p, practice) {
			continue
		}
		if practice == "" {
			return fhir.Errorf(fhir.CodeForbidden, "this %s belongs to no practice: only development mode may %s", r.Type(), what)
		}
		return fhir.Errorf(fhir.CodeForbidden, "only an administrator acting for practice %s may %s (%s)", practice, what, r.Type())
	}
	return nil
}

// maySetSecrets reports whether p may write the secrets of a resource of
// practice: its administrator, or the developer.
func maySetSecrets(p *auth.Principal, practice string) bool {
	return p != nil && (p.Dev || (practice != "" && p.HasRole(auth.RoleAdmin) && p.CanSeePractice(practice)))
}

// destination is where a resource's headers are sent.
func destination(obj map[string]any) string {
	if obj["resourceType"] == "Subscription" {
		ch, _ := obj["channel"].(map[string]any)
		s, _ := ch["endpoint"].(string)
		return s
	}
	s, _ := obj["address"].(string)
	return s
}

func headerPath(typ string, i int) string {
	if typ == "Subscription" {
		return "Subscription.channel.header[" + strconv.Itoa(i) + "]"
	}
	return "Endpoint.header[" + strconv.Itoa(i) + "]"
}

func dropMaskedLabel(obj map[string]any) {
	meta, _ := obj["meta"].(map[string]any)
	list, _ := meta["security"].([]any)
	if len(list) == 0 {
		return
	}
	kept := list[:0:0]
	for _, item := range list {
		if !isMaskedLabel(item) {
			kept = append(kept, item)
		}
	}
	if len(kept) == len(list) {
		return
	}
	if len(kept) == 0 {
		delete(meta, "security")
		if len(meta) == 0 {
			delete(obj, "meta")
		}
		return
	}
	meta["security"] = kept
}

// openHeader is a stored header line as written, its value opened; a
// value that cannot be opened stays sealed (it then differs from any
// value a client sends, which counts as a change).
func openHeader(box *sealed.Box, h string) string {
	name, v, ok := strings.Cut(h, ":")
	if box == nil || !ok || !sealed.IsSealed(strings.TrimSpace(v)) {
		return h
	}
	opened, err := box.Open(strings.TrimSpace(v))
	if err != nil {
		return h
	}
	return name + ": " + opened
}

// normHeader is a header line with the spaces around name and value
// trimmed, as it is sent.
func normHeader(h string) string {
	name, v, ok := strings.Cut(h, ":")
	if !ok {
		return h
	}
	return strings.TrimSpace(name) + ": " + strings.TrimSpace(v)
}

// sealHeader is a header line as stored: its value sealed.
func sealHeader(box *sealed.Box, h string) string {
	name, v, ok := strings.Cut(h, ":")
	if box == nil || !ok {
		return h
	}
	return strings.TrimSpace(name) + ": " + box.Seal(strings.TrimSpace(v))
}
