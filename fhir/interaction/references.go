package interaction

import (
	"context"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/spec"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// LockAll takes the sorted keys on tx: in one round trip when tx is a
// store.MultiLocker, else one by one.
func LockAll(ctx context.Context, tx store.Tx, keys []string) error {
	if ml, ok := tx.(store.MultiLocker); ok && len(keys) > 1 {
		return ml.LockAll(ctx, keys)
	}
	for _, k := range keys {
		if err := tx.Lock(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// ConditionalReference splits "Patient?identifier=a|1" into its type
// and query; ok is false for any other reference.
func ConditionalReference(ref string) (typ, query string, ok bool) {
	typ, query, ok = strings.Cut(ref, "?")
	if !ok || !spec.IsResourceType(typ) {
		return "", "", false
	}
	return typ, query, true
}

// ResolveConditionalReferences replaces each conditional reference in v
// by Type/id of its one match.
func ResolveConditionalReferences(ctx context.Context, tx store.Tx, v any) error {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if s, ok := c.(string); ok && k == "reference" {
				typ, query, ok := ConditionalReference(s)
				if !ok {
					continue
				}
				crit, err := ParseCriteriaString(typ, query)
				if err != nil {
					return err
				}
				found, err := Matches(ctx, tx, crit)
				if err != nil {
					return err
				}
				switch len(found) {
				case 0:
					return fhir.Errorf(fhir.CodeNotFound, "the conditional reference %s matches nothing", s).Because(fhir.DetailMalformed)
				case 1:
					x[k] = typ + "/" + found[0].ID
				default:
					return SeveralMatch(crit, "conditional reference")
				}
				continue
			}
			if err := ResolveConditionalReferences(ctx, tx, c); err != nil {
				return err
			}
		}
	case []any:
		for _, c := range x {
			if err := ResolveConditionalReferences(ctx, tx, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// HasConditionalReference tells whether v holds a conditional reference
// (Patient?identifier=...).
func HasConditionalReference(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if s, ok := c.(string); ok && k == "reference" {
				if _, _, ok := ConditionalReference(s); ok {
					return true
				}
				continue
			}
			if HasConditionalReference(c) {
				return true
			}
		}
	case []any:
		for _, c := range x {
			if HasConditionalReference(c) {
				return true
			}
		}
	}
	return false
}
