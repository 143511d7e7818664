package snomed

import (
	"context"
	"errors"
	"fmt"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// SeedStore is what Seed needs of a store; store.Store satisfies it.
type SeedStore interface {
	Source
	Create(ctx context.Context, r *fhir.Resource) (store.WriteResult, error)
	Update(ctx context.Context, r *fhir.Resource, pre store.Precondition) (store.WriteResult, error)
}

var _ SeedStore = (store.Store)(nil)

// SeedAction says what Seed did with one shipped resource.
type SeedAction string

const (
	// SeedCreated: the resource was absent and has been stored.
	SeedCreated SeedAction = "created"
	// SeedRestored: the resource had been deleted; the shipped one is live
	// again (deleting a shipped resource is how an administrator goes back
	// to the default at the next start).
	SeedRestored SeedAction = "restored"
	// SeedUpdated: the stored resource was unmodified shipped content of an
	// older release and has been replaced by this release's.
	SeedUpdated SeedAction = "updated"
	// SeedUnchanged: the stored resource is this release's content.
	SeedUnchanged SeedAction = "unchanged"
	// SeedKept: the stored resource was changed or replaced by an
	// administrator; it is left alone.
	SeedKept SeedAction = "kept"
)

// SeedResult is what happened to one resource.
type SeedResult struct {
	Type, ID string
	Action   SeedAction
	// Version is the stored version after seeding.
	Version int64
}

// Seed puts the shipped CodeSystems, ValueSets and the allocation
// ConceptMap into the store with fixed ids, idempotently: a resource is
// written only when it is absent, deleted, or still the unmodified content
// of an older release (its meta.tag hash matches its content but not this
// release's). An administrator's version, told apart by its content no
// longer matching its tag, is never overwritten. Several gateway processes
// may seed one database at once: updates carry If-Match, and a lost race
// is re-read, not retried blindly.
func (t *Terminology) Seed(ctx context.Context, st SeedStore) ([]SeedResult, error) {
	resources, err := t.ShippedResources()
	if err != nil {
		return nil, err
	}
	return SeedResources(ctx, st, resources)
}

// SeedResources puts shipped resources of any kind into the store by the
// rules of Terminology.Seed: each must carry a fixed id and the
// ShippedTagSystem tag MarkShipped puts on it. Other packages that ship
// conformance resources (the directory of services' StructureDefinitions,
// for one) seed through it, so every shipped resource follows one policy.
func SeedResources(ctx context.Context, st SeedStore, resources []*fhir.Resource) ([]SeedResult, error) {
	out := make([]SeedResult, 0, len(resources))
	for _, r := range resources {
		var res SeedResult
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			res, err = seedOne(ctx, st, r.Clone())
			if !errors.Is(err, errSeedRace) {
				break
			}
		}
		if err != nil {
			return out, fmt.Errorf("seed %s/%s: %w", r.Type(), r.ID(), err)
		}
		out = append(out, res)
	}
	return out, nil
}

var errSeedRace = errors.New("another process wrote the resource meanwhile")

func seedOne(ctx context.Context, st SeedStore, r *fhir.Resource) (SeedResult, error) {
	res := SeedResult{Type: r.Type(), ID: r.ID()}
	shippedHash := shippedTag(r.Object())
	cur, err := st.Read(ctx, r.Type(), r.ID())
	switch {
	case errors.Is(err, fhir.ErrNotFound):
		w, err := st.Create(ctx, r)
		if fe, ok := fhir.AsError(err); ok && fe.Code() == fhir.CodeDuplicate {
			return res, errSeedRace
		}
		if err != nil {
			return res, err
		}
		res.Action, res.Version = SeedCreated, w.Version.VersionID
		return res, nil
	case errors.Is(err, fhir.ErrDeleted):
		w, err := st.Update(ctx, r, store.Precondition{})
		if err != nil {
			return res, err
		}
		res.Action, res.Version = SeedRestored, w.Version.VersionID
		return res, nil
	case err != nil:
		return res, err
	}
	res.Version = cur.VersionID
	stored, err := fhir.ParseResource(cur.Body)
	if err != nil {
		return res, err
	}
	tag := shippedTag(stored.Object())
	if tag == shippedHash {
		if h, err := contentHash(stored.Object()); err == nil && h == tag {
			res.Action = SeedUnchanged
			return res, nil
		}
	}
	if h, err := contentHash(stored.Object()); err != nil || tag == "" || h != tag {
		res.Action = SeedKept
		return res, nil
	}
	w, err := st.Update(ctx, r, store.Precondition{IfMatch: cur.VersionID})
	if fe, ok := fhir.AsError(err); ok && (fe.Detail == fhir.DetailPreconditionFailed || fe.Code() == fhir.CodeConflict) {
		return res, errSeedRace
	}
	if err != nil {
		return res, err
	}
	res.Action, res.Version = SeedUpdated, w.Version.VersionID
	return res, nil
}

// shippedTag is the code of the resource's ShippedTagSystem tag, or "".
func shippedTag(obj map[string]any) string {
	meta, _ := obj["meta"].(map[string]any)
	for _, tg := range fhir.List(meta["tag"]) {
		m, _ := tg.(map[string]any)
		if fhir.Str(m["system"]) == ShippedTagSystem {
			return fhir.Str(m["code"])
		}
	}
	return ""
}
