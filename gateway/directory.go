package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/directory"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// The directory of services (docs/directory.md; package directory): the
// registration of its conformance resources, write check and operations.
// The shipped StructureDefinitions, CodeSystems, ValueSets and the
// $match OperationDefinition are seeded into the store at start-up
// (snomed.SeedResources: idempotent, an administrator's edit kept).

// DirectoryOptions configures the directory of services.
type DirectoryOptions = directory.Options

// RegisterDirectory seeds the directory's conformance resources, serves
// OperationDefinition (read and search, for the $match definition),
// checks every HealthcareService write and serves HealthcareService/$match
// (GET and POST). Call once, before Handler.
func (s *Server) RegisterDirectory(ctx context.Context, opts DirectoryOptions) error {
	opts = opts.WithDefaults(s.opts.CanonicalBase, s.opts.Now)
	d := mapping.NewDirectory(opts.Base)
	dir := directory.NewService(d, s.newDirectoryCache(d, opts.Overlap, opts.Now), opts.MatchOptions())
	resources, err := d.Resources()
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
	s.RegisterWriteCheck("HealthcareService", dir.Check)
	s.RegisterOperation(Operation{
		Name: "match", Level: TypeLevel, Type: "HealthcareService",
		Definition:  d.Base() + "/OperationDefinition/" + mapping.MatchOperation,
		Idempotent:  true,
		Permissions: []Permission{{"HealthcareService", auth.Search}, {"HealthcareService", auth.Read}},
		Run: func(ctx context.Context, in OperationInput) ([]byte, error) {
			return dir.Match(ctx, in.Base, in.Params)
		},
	})
	return nil
}

// newDirectoryCache is a directory cache of the server's store, closed
// with the server.
func (s *Server) newDirectoryCache(d mapping.Directory, overlap time.Duration, now func() time.Time) *directory.Cache {
	c := directory.NewCache(s.store, d, overlap, now)
	s.onClose(c.Close)
	return c
}
