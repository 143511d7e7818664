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

// Bases are where the names an outcome Bundle uses live.
type Bases struct {
	// Canonical is Signpost's canonical base: identifier systems made
	// for resources without one are <Canonical>/sid/<type>.
	Canonical string
	// References is the FHIR base a relative reference to a resource that
	// only Signpost holds is made absolute against (the gateway's public
	// base when configured, else Canonical); it also names the Task's
	// version in Task.meta.source.
	References string
}

// OutcomeBundle is OutcomeBundleFor with base as both bases.
func OutcomeBundle(base string, task []byte, others ...[]byte) ([]byte, error) {
	return OutcomeBundleFor(Bases{Canonical: base, References: base}, task, others...)
}

// OutcomeBundleFor builds the transaction Bundle that delivers one
// decision (docs/delivery.md is the receiver's side of it): the Task
// first, then the allocation ServiceRequest, its Provenance, the earlier
// allocation it revoked and the need-group Observations.
//
// Every entry but the Provenance is a conditional update on its business
// identifier (PUT Type?identifier=system|value), so the receiver ends
// with the content of the latest delivery however often a resource
// (a refreshed need group, a revoked allocation) changed between
// deliveries; Provenance is a record of one decision and never changes,
// so it is a conditional create (ifNoneExist). A resource without an
// identifier gets <Canonical>/sid/<type>|<id> (Provenance has no
// identifier element in R4, so it is matched on a meta.tag
// <Canonical>/sid/provenance|<id> with _tag).
//
// The Task's meta.source is its versioned URL at Signpost,
// <References>/Task/<id>/_history/<version>: the version rises with every
// decision, so a receiver holding a later one refuses an earlier Bundle
// arriving late.
//
// References between the entries become their urn:uuid fullUrls, which
// the receiver replaces with the ids it assigns; every other relative
// reference (HealthcareService/x, PlanDefinition/x/_history/1,
// ConceptMap/x, Patient/x) becomes absolute at <References>, so the
// Bundle refers to nothing the receiver would have to hold. Ids and
// server-owned meta are dropped.
func OutcomeBundleFor(bases Bases, task []byte, others ...[]byte) ([]byte, error) {
	base := strings.TrimRight(bases.Canonical, "/")
	refBase := strings.TrimRight(bases.References, "/")
	if refBase == "" {
		refBase = base
	}
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
		// _history) point at their fullUrls; other relative ones are made
		// absolute at Signpost's base.
		fhir.RewriteReferences(obj, func(ref string) (string, bool) {
			local := ref
			if i := strings.Index(local, "/_history/"); i >= 0 {
				local = local[:i]
			}
			if u, ok := urns[local]; ok {
				return u, true
			}
			if isRelativeReference(ref) {
				return refBase + "/" + ref, true
			}
			return "", false
		})
		meta, _ := obj["meta"].(map[string]any)
		version := ""
		if meta != nil {
			version, _ = meta["versionId"].(string)
			// Server-owned: the receiver keeps its own versions.
			delete(meta, "versionId")
			delete(meta, "lastUpdated")
		}
		if i == 0 {
			if version == "" {
				return nil, fmt.Errorf("clinicalsystem: outcome bundle: the Task has no version")
			}
			if meta == nil {
				meta = map[string]any{}
				obj["meta"] = meta
			}
			meta["source"] = refBase + "/Task/" + it.id + "/_history/" + version
		}
		delete(obj, "id")
		var req map[string]any
		switch {
		case it.typ == "Provenance":
			sys, code := base+"/sid/provenance", it.id
			addTag(obj, sys, code)
			req = map[string]any{"method": "POST", "url": "Provenance", "ifNoneExist": "_tag=" + url.QueryEscape(sys+"|"+code)}
		default:
			sys, val := businessIdentifier(obj, base, it.typ, it.id)
			req = map[string]any{"method": "PUT", "url": it.typ + "?identifier=" + url.QueryEscape(sys+"|"+val)}
		}
		entries = append(entries, map[string]any{"fullUrl": full, "resource": obj, "request": req})
	}
	return json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

// isRelativeReference says whether ref is Type/id or Type/id/_history/v
// (a FHIR relative reference), not an absolute URL, a urn or #contained.
func isRelativeReference(ref string) bool {
	parts := strings.Split(ref, "/")
	if len(parts) != 2 && !(len(parts) == 4 && parts[2] == "_history") {
		return false
	}
	typ := parts[0]
	if typ == "" || typ[0] < 'A' || typ[0] > 'Z' || strings.ContainsAny(typ, ":#?") {
		return false
	}
	for _, p := range parts[1:] {
		if p == "" || strings.ContainsAny(p, ":#?") {
			return false
		}
	}
	return true
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
