package navigation

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// seedDemo seeds the demonstration content of dir: every *.json file is a
// resource or a collection Bundle of resources with fixed ids. They are
// validated like any write, labelled with the demo practice where they
// hold patient data, and seeded by the shipped-content rules
// (snomed.SeedResources: absent or unmodified ones are written, an
// administrator's edits kept). Canonical URLs are rewritten to the
// server's base.
func (nav *Service) seedDemo(ctx context.Context, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no demo content (*.json) in %s", dir)
	}
	sort.Strings(files)
	var resources []*fhir.Resource
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if base := nav.host.CanonicalBase(); base != snomed.DefaultBase {
			b = []byte(strings.ReplaceAll(string(b), snomed.DefaultBase, base))
		}
		r, err := fhir.ParseResource(b)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		list := []*fhir.Resource{r}
		if r.Type() == "Bundle" {
			list = nil
			for _, e := range fhir.List(r.Object()["entry"]) {
				em, _ := e.(map[string]any)
				rm, _ := em["resource"].(map[string]any)
				er, err := fhir.ResourceFromObject(rm)
				if err != nil {
					return fmt.Errorf("%s: %w", f, err)
				}
				list = append(list, er)
			}
		}
		for _, er := range list {
			if er.ID() == "" {
				return fmt.Errorf("%s: a demo %s has no id", f, er.Type())
			}
			if err := er.Validate(fhir.ValidateOptions{Strict: true}); err != nil {
				return fmt.Errorf("%s: %s/%s: %w", f, er.Type(), er.ID(), err)
			}
			if issues := nav.demoChecks(er); hasErrors(issues) {
				return fmt.Errorf("%s: %s/%s: %s", f, er.Type(), er.ID(), errorIssues(issues)[0].Diagnostics)
			}
			if err := snomed.MarkShipped(er, "demo"); err != nil {
				return err
			}
			// After MarkShipped, which writes meta afresh (its hash
			// leaves meta out).
			if auth.IsPatientLinked(er.Type()) {
				nav.host.SetPracticeLabel(er, "Y99999")
			}
			resources = append(resources, er)
		}
	}
	seeded, err := snomed.SeedResources(ctx, nav.host.Store(), resources)
	if err != nil {
		return err
	}
	nav.host.NoteSeeded(ctx, "demo resource", seeded)
	return nil
}

// demoChecks are the write checks demo content must pass.
func (nav *Service) demoChecks(r *fhir.Resource) []fhir.Issue {
	switch r.Type() {
	case "PlanDefinition":
		return mapping.CheckProtocol(r.Object(), nav.names)
	case "HealthcareService":
		return mapping.CheckDirectoryService(r, nav.engine.Directory)
	}
	return nil
}
