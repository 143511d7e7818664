package tenancy

import (
	"context"
	"errors"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Versions under tenancy: a resource's history and its past versions
// are read from the store outside any transaction (versions never change
// once written), so they are guarded here rather than by Tx.

// HistoryFilter is the tenancy filter of p's history queries: of the
// owned types, only the versions labelled with one of p's practices; nil
// when p is not bounded by tenancy.
func (l Labels) HistoryFilter(p *auth.Principal) *store.SecurityFilter {
	if p.Dev || p.AllPractices {
		return nil
	}
	return &store.SecurityFilter{Types: OwnedTypes(), System: l.System, Codes: p.Practices()}
}

// History reads the page of history q asks for as p may see it: other
// practices' versions are left out (HistoryFilter), and the history of a
// resource whose every version is another practice's is not known (404),
// as for one that never existed.
func (g *Guard) History(ctx context.Context, p *auth.Principal, q store.HistoryQuery) (store.HistoryPage, error) {
	q.Security = g.HistoryFilter(p)
	page, err := g.opts.Store.History(ctx, q)
	if err != nil {
		return page, err
	}
	if q.ID != "" && page.Total == 0 && Restricted(p, q.Type) {
		return store.HistoryPage{}, fhir.NotFound(q.Type, q.ID)
	}
	return page, nil
}

// VersionRead reads version n of typ/id as p may see it: a version of
// another practice's resource, deleted or not, is not known (404).
func (g *Guard) VersionRead(ctx context.Context, p *auth.Principal, typ, id string, n int64) (store.Version, error) {
	st := g.opts.Store
	v, err := st.VRead(ctx, typ, id, n)
	if !Restricted(p, typ) {
		return v, err
	}
	switch {
	case err == nil:
		if !g.Visible(p, typ, v.Body) {
			return store.Version{}, fhir.NotFound(typ, id)
		}
	case errors.Is(err, fhir.ErrDeleted):
		// A deletion has no body; it belongs where the version it
		// deleted did.
		prev, perr := st.VRead(ctx, typ, id, n-1)
		if perr != nil || !g.Visible(p, typ, prev.Body) {
			return store.Version{}, fhir.NotFound(typ, id)
		}
	case errors.Is(err, fhir.ErrNotFound):
		// "No version n" would tell another practice's resource from
		// one that never existed, and how many versions it has: only a
		// caller that may see some version of it hears it.
		page, herr := st.History(ctx, store.HistoryQuery{Type: typ, ID: id, Count: 0, Security: g.HistoryFilter(p)})
		switch {
		case errors.Is(herr, fhir.ErrNotFound) || (herr == nil && page.Total == 0):
			return store.Version{}, fhir.NotFound(typ, id)
		case herr != nil:
			return store.Version{}, herr
		}
	}
	return v, err
}
