package clinicalsystem

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/fhir"
)

// urnSpace makes the Bundle's fullUrls from Type/id: the same resource
// gets the same urn:uuid in every send, so a retried payload is the same
// bytes.
var urnSpace = uuid.MustParse("6f1d6c1e-6a43-4c1b-9a8e-0c5a8f3b9d21")

// OutcomeBundle builds the transaction Bundle that delivers one decision:
// the Task (conditional update by its identifier), then the allocation
// ServiceRequest, its Provenance and any need-group Observations
// (conditional creates, ifNoneExist on a business identifier); a revoked
// earlier allocation among them is a conditional update too. base is
// Signpost's canonical base: a resource without an identifier gets
// <base>/sid/<type>|<id> (Provenance has no identifier element in R4, so
// it is matched on a meta.tag <base>/sid/provenance|<id> with _tag).
// References between the entries become their urn:uuid fullUrls, which
// the receiver replaces with the ids it assigns; ids are dropped.
func OutcomeBundle(base string, task []byte, others ...[]byte) ([]byte, error) {
	base = strings.TrimRight(base, "/")
	type item struct {
		obj     map[string]any
		typ, id string
	}
	var items []item
	for _, raw := range append([][]byte{task}, others...) {
		if len(raw) == 0 {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("clinicalsystem: outcome bundle: %w", err)
		}
		typ, _ := obj["resourceType"].(string)
		id, _ := obj["id"].(string)
		if typ == "" || id == "" {
			return nil, fmt.Errorf("clinicalsystem: outcome bundle: a resource without type or id")
		}
		items = append(items, item{obj, typ, id})
	}
	if len(items) == 0 || items[0].typ != "Task" {
		return nil, fmt.Errorf("clinicalsystem: outcome bundle: the first resource must be the Task")
	}
	urns := map[string]string{}
	for _, it := range items {
		urns[it.typ+"/"+it.id] = "urn:uuid:" + uuid.NewSHA1(urnSpace, []byte(it.typ+"/"+it.id)).String()
	}
	var entries []any
	for i, it := range items {
		obj := it.obj
		full := urns[it.typ+"/"+it.id]
		// References to entries of the Bundle (Type/id, with or without
		// _history) point at their fullUrls.
		fhir.RewriteReferences(obj, func(ref string) (string, bool) {
			if i := strings.Index(ref, "/_history/"); i >= 0 {
				ref = ref[:i]
			}
			u, ok := urns[ref]
			return u, ok
		})
		delete(obj, "id")
		if meta, ok := obj["meta"].(map[string]any); ok {
			// Server-owned: the receiver keeps its own versions.
			delete(meta, "versionId")
			delete(meta, "lastUpdated")
		}
		var req map[string]any
		switch {
		case it.typ == "Provenance":
			sys, code := base+"/sid/provenance", it.id
			addTag(obj, sys, code)
			req = map[string]any{"method": "POST", "url": "Provenance", "ifNoneExist": "_tag=" + url.QueryEscape(sys+"|"+code)}
		default:
			sys, val := businessIdentifier(obj, base, it.typ, it.id)
			crit := "identifier=" + url.QueryEscape(sys+"|"+val)
			if st, _ := obj["status"].(string); i == 0 || st == "revoked" {
				// The Task, and an earlier allocation this decision
				// revoked, exist at the receiver already (or should).
				req = map[string]any{"method": "PUT", "url": it.typ + "?" + crit}
			} else {
				req = map[string]any{"method": "POST", "url": it.typ, "ifNoneExist": crit}
			}
		}
		entries = append(entries, map[string]any{"fullUrl": full, "resource": obj, "request": req})
	}
	return json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

// businessIdentifier is the first identifier with a system and a value,
// or a new one made from the id (added to the resource).
func businessIdentifier(obj map[string]any, base, typ, id string) (string, string) {
	list, _ := obj["identifier"].([]any)
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			sys, _ := m["system"].(string)
			val, _ := m["value"].(string)
			if sys != "" && val != "" {
				return sys, val
			}
		}
	}
	name := strings.ToLower(typ)
	if typ == "ServiceRequest" {
		name = "allocation"
	}
	sys := base + "/sid/" + name
	obj["identifier"] = append(list, map[string]any{"system": sys, "value": id})
	return sys, id
}

func addTag(obj map[string]any, sys, code string) {
	meta, _ := obj["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["meta"] = meta
	}
	tags, _ := meta["tag"].([]any)
	meta["tag"] = append(tags, map[string]any{"system": sys, "code": code})
}
