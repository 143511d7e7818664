package gateway

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/directory"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// The directory of services (docs/directory.md): the HTTP side of
// mapping's directory representation.
//
//   - The shipped StructureDefinitions, CodeSystems, ValueSets and the
//     $match OperationDefinition are seeded into the store at start-up
//     (snomed.SeedResources: idempotent, an administrator's edit kept).
//   - A write check on HealthcareService refuses directory extensions
//     matching could not read, and an update older, by the publisher's
//     own timestamp, than the stored entry with the same identifier (409).
//     It reads the directory as it was when the request began, before the
//     write's transaction: two writers racing on one identifier are not
//     ordered against each other (a publisher's feed has one writer per
//     entry; see the docs).
//   - HealthcareService/$match answers "who can take this patient, for
//     this need, in this timeframe" from an in-memory copy of the
//     directory (directory.Cache), which every call first checks against
//     the store with one cheap query, so every gateway process answers
//     from what is committed, never from a stale copy.

// DirectoryOptions configures the directory of services.
type DirectoryOptions struct {
	// Base is the canonical base of the directory's extensions and code
	// systems; empty: the server's CanonicalBase.
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

// directoryAPI is what RegisterDirectory sets up: the HTTP side of the directory.
type directoryAPI struct {
	d     mapping.Directory
	opts  DirectoryOptions
	cache *directory.Cache
	// perRequest holds each in-flight request's snapshot for the write
	// check, by request context.
	perRequest sync.Map
}

// RegisterDirectory seeds the directory's conformance resources, serves
// OperationDefinition (read and search, for the $match definition),
// checks every HealthcareService write and serves HealthcareService/$match
// (GET and POST). Call once, before Handler.
func (s *Server) RegisterDirectory(ctx context.Context, opts DirectoryOptions) error {
	if opts.Base == "" {
		opts.Base = s.opts.CanonicalBase
	}
	if opts.Overlap <= 0 {
		opts.Overlap = 2 * time.Minute
	}
	if opts.MaxWindow <= 0 {
		opts.MaxWindow = 92 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = s.opts.Now
	}
	dir := &directoryAPI{d: mapping.NewDirectory(opts.Base), opts: opts}
	dir.cache = s.newDirectoryCache(dir.d, opts.Overlap, opts.Now)
	resources, err := dir.d.Resources()
	if err != nil {
		return err
	}
	seeded, err := snomed.SeedResources(ctx, s.store, resources)
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	s.NoteSeeded(ctx, "directory resource", seeded)
	s.registry.Serve("OperationDefinition", Read, VRead, SearchType, HistoryInstance, HistoryType)
	s.registry.Serve("SearchParameter", Read, VRead, SearchType, HistoryInstance, HistoryType)
	if err := s.registerMatchSearch(dir); err != nil {
		return err
	}
	s.RegisterWriteCheck("HealthcareService", func(ctx context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
		return dir.check(ctx, r)
	})
	s.RegisterOperation(Operation{
		Name: "match", Level: TypeLevel, Type: "HealthcareService",
		Definition:  dir.d.Base() + "/OperationDefinition/" + mapping.MatchOperation,
		Idempotent:  true,
		Permissions: []Permission{{"HealthcareService", auth.Search}, {"HealthcareService", auth.Read}},
		Run:         dir.match,
	})
	return nil
}

// check is the HealthcareService write check. The publisher order is
// checked against the directory as it was when the request's first check
// ran: every entry of a Bundle is checked against one snapshot (one count
// query for the whole Bundle, not a search per entry), which is the state
// a transaction's entries are validated against anyway.
func (dir *directoryAPI) check(ctx context.Context, r *fhir.Resource) ([]fhir.Issue, error) {
	if issues := mapping.CheckDirectoryService(r, dir.d); len(issues) > 0 {
		return issues, nil
	}
	obj := r.Object()
	in := mapping.SourceUpdated(obj, dir.d)
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
			// own status: this is a conflict with stored state (409), not
			// invalid content (422).
			if err := mapping.CheckPublisherOrder(in, s.SourceUpdated, "HealthcareService/"+s.ID, dir.d); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}

// requestSnapshot is the directory snapshot of the request ctx belongs
// to, taken at its first call; a context that is never done (not a
// request's) gets a fresh one each time.
func (dir *directoryAPI) requestSnapshot(ctx context.Context) (*directory.Snapshot, error) {
	if ctx.Done() == nil {
		return dir.cache.Snapshot(ctx)
	}
	if v, ok := dir.perRequest.Load(ctx); ok {
		return v.(*directory.Snapshot), nil
	}
	snap, err := dir.cache.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if _, loaded := dir.perRequest.LoadOrStore(ctx, snap); !loaded {
		context.AfterFunc(ctx, func() { dir.perRequest.Delete(ctx) })
	}
	return snap, nil
}

// match is HealthcareService/$match.
func (dir *directoryAPI) match(ctx context.Context, in OperationInput) ([]byte, error) {
	q, count, err := directory.ParseMatch(in.Params, dir.matchOptions())
	if err != nil {
		return nil, err
	}
	snap, err := dir.cache.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return directory.MatchBundle(in.Base, dir.d, snap, mapping.Match(snap.Candidates(q.ServiceTypes), dir.d, q), count)
}

// newDirectoryCache is a directory cache of the server's store, closed
// with the server.
func (s *Server) newDirectoryCache(d mapping.Directory, overlap time.Duration, now func() time.Time) *directory.Cache {
	c := directory.NewCache(s.store, d, overlap, now)
	s.onClose(c.Close)
	return c
}

// matchOptions are the bounds and clock of a $match.
func (dir *directoryAPI) matchOptions() directory.MatchOptions {
	return directory.MatchOptions{Holidays: dir.opts.Holidays, MaxWindow: dir.opts.MaxWindow, Now: dir.opts.Now}
}
