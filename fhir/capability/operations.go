package capability

import (
	"fmt"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
)

// Level is where an operation is invoked: [base]/$op, [base]/[type]/$op
// or [base]/[type]/[id]/$op.
type Level int

const (
	SystemLevel Level = iota
	TypeLevel
	InstanceLevel
)

// Declared is one served operation, for OperationDefinitions.
type Declared struct {
	Name  string // without the $
	Level Level
	// Type is the resource type for type and instance operations.
	Type string
	// Definition is the canonical URL of its OperationDefinition.
	Definition string
	// Idempotent operations do not change state.
	Idempotent bool
}

// OperationDefinitions generates the OperationDefinition of every one of
// ops whose definition is one of the server's own (prefix[id], prefix
// being [canonical base]/OperationDefinition/), by id; an operation
// served at several levels has one definition. Those of others, such as
// HL7's $lookup, are theirs to publish. date and version are the
// server's start and software version. A definition that cannot be
// generated is left out and named in errs.
func OperationDefinitions(prefix string, ops []Declared, date time.Time, version string) (out map[string][]byte, errs []error) {
	type def struct {
		url, code, typ          string
		system, typed, instance bool
		affectsState            bool
	}
	byID := map[string]*def{}
	var ids []string
	for _, op := range ops {
		id, ok := strings.CutPrefix(op.Definition, prefix)
		if !ok || !fhir.ValidID(id) {
			continue
		}
		d := byID[id]
		if d == nil {
			d = &def{url: op.Definition, code: op.Name, typ: op.Type}
			byID[id] = d
			ids = append(ids, id)
		}
		switch op.Level {
		case SystemLevel:
			d.system = true
		case TypeLevel:
			d.typed = true
		case InstanceLevel:
			d.instance = true
		}
		d.affectsState = d.affectsState || !op.Idempotent
	}
	out = make(map[string][]byte, len(ids))
	for _, id := range ids {
		d := byID[id]
		od := map[string]any{
			"resourceType": "OperationDefinition",
			"id":           id,
			"meta":         map[string]any{"versionId": "1", "lastUpdated": date.UTC().Format(fhir.InstantFormat)},
			"url":          d.url,
			"version":      version,
			"name":         OperationName(d.code),
			"status":       "active",
			"kind":         "operation",
			"publisher":    "Signpost",
			"description":  "$" + d.code + ", as Signpost serves it; see the Signpost documentation for its parameters.",
			"affectsState": d.affectsState,
			"code":         d.code,
			"system":       d.system,
			"type":         d.typed,
			"instance":     d.instance,
		}
		if d.typ != "" {
			od["resource"] = []any{d.typ}
		}
		body, err := fhir.Generate(od)
		if err != nil {
			errs = append(errs, fmt.Errorf("OperationDefinition/%s: %w", id, err))
			continue
		}
		out[id] = body
	}
	return out, errs
}

// OperationName is an OperationDefinition.name for code: letters and
// digits, starting with a capital ("delivery-status" -> "DeliveryStatus").
func OperationName(code string) string {
	var b strings.Builder
	upper := true
	for _, c := range code {
		switch {
		case c >= 'a' && c <= 'z' && upper:
			b.WriteRune(c - 'a' + 'A')
			upper = false
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			b.WriteRune(c)
			upper = false
		default:
			upper = true
		}
	}
	return b.String()
}
