package directory

import (
	"context"
	"sync"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/mapping"
)

// Service is the directory as the API serves it: the HealthcareService
// write check, HealthcareService/$match and the matching search
// (search.go), all answered from Cache.
//
//   - The write check refuses directory extensions matching could not
//     read, and an update older, by the publisher's own timestamp, than
//     the stored entry with the same identifier (a conflict). It reads
//     the directory as it was when the request began, before the write's
//     transaction: two writers racing on one identifier are not ordered
//     against each other (a publisher's feed has one writer per entry;
//     see the docs).
//   - HealthcareService/$match answers "who can take this patient, for
//     this need, in this timeframe" from the in-memory copy, which every
//     call first checks against the store with one cheap query, so every
//     gateway process answers from what is committed, never from a stale
//     copy.
type Service struct {
	D     mapping.Directory
	Cache *Cache
	Opts  MatchOptions
	// perRequest holds each in-flight request's snapshot for the write
	// check, by request context.
	perRequest sync.Map
}

// NewService serves d from cache, $match and the matching search bounded
// by opts.
func NewService(d mapping.Directory, cache *Cache, opts MatchOptions) *Service {
	return &Service{D: d, Cache: cache, Opts: opts}
}

// Check is the HealthcareService write check. The publisher order is
// checked against the directory as it was when the request's first check
// ran: every entry of a Bundle is checked against one snapshot (one count
// query for the whole Bundle, not a search per entry), which is the state
// a transaction's entries are validated against anyway.
func (dir *Service) Check(ctx context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
	if issues := mapping.CheckDirectoryService(r, dir.D); len(issues) > 0 {
		return issues, nil
	}
	obj := r.Object()
	in := mapping.SourceUpdated(obj, dir.D)
	ids := mapping.Identifiers(obj)
	if in.IsZero() || len(ids) == 0 {
		return nil, nil
	}
	snap, err := dir.requestSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		for _, s := range snap.ByIdentifier(id.System, id.Value) {
			// A *fhir.Error from a write check refuses the write with its
			// own status: this is a conflict with stored state, not
			// invalid content.
			if err := mapping.CheckPublisherOrder(in, s.SourceUpdated, "HealthcareService/"+s.ID, dir.D); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}

// requestSnapshot is the directory snapshot of the request ctx belongs
// to, taken at its first call; a context that is never done (not a
// request's) gets a fresh one each time.
func (dir *Service) requestSnapshot(ctx context.Context) (*Snapshot, error) {
	if ctx.Done() == nil {
		return dir.Cache.Snapshot(ctx)
	}
	if v, ok := dir.perRequest.Load(ctx); ok {
		return v.(*Snapshot), nil
	}
	snap, err := dir.Cache.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if _, loaded := dir.perRequest.LoadOrStore(ctx, snap); !loaded {
		context.AfterFunc(ctx, func() { dir.perRequest.Delete(ctx) })
	}
	return snap, nil
}

// Match is HealthcareService/$match; base is the FHIR base as the client
// sees it.
func (dir *Service) Match(ctx context.Context, base string, p *fhir.Parameters) ([]byte, error) {
	q, count, err := ParseMatch(p, dir.Opts)
	if err != nil {
		return nil, err
	}
	snap, err := dir.Cache.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return MatchBundle(base, dir.D, snap, mapping.Match(snap.Candidates(q.ServiceTypes), dir.D, q), count)
}

// Options configures the directory of services.
type Options struct {
	// Base is the canonical base of the directory's extensions and code
	// systems; empty: the server's canonical base.
	Base string
	// Overlap bounds how long a write can take between stamping
	// meta.lastUpdated and committing, plus the clock skew between
	// gateway processes; the cache re-reads that much history. Default
	// 2 minutes (the request deadline is 30 s by default).
	Overlap time.Duration
	// Holidays tells bank holidays; nil is England and Wales
	// (mapping.EnglandAndWalesBankHoliday).
	Holidays func(y int, m time.Month, d int) bool
	// MaxWindow bounds a $match window (to - from). Default 92 days.
	MaxWindow time.Duration
	// Now is the clock; default the server's.
	Now func() time.Time
}

// WithDefaults is o with the defaults set: base is the server's
// canonical base, now its clock.
func (o Options) WithDefaults(base string, now func() time.Time) Options {
	if o.Base == "" {
		o.Base = base
	}
	if o.Overlap <= 0 {
		o.Overlap = 2 * time.Minute
	}
	if o.MaxWindow <= 0 {
		o.MaxWindow = 92 * 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = now
	}
	return o
}

// MatchOptions are the bounds and clock of $match and the matching search.
func (o Options) MatchOptions() MatchOptions {
	return MatchOptions{Holidays: o.Holidays, MaxWindow: o.MaxWindow, Now: o.Now}
}
