package navigation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping/freetext"
	"github.com/signpost-fhir/signpost/snomed"
)

// The clinical lexicon (mapping/freetext) as a stored CodeSystem,
// CodeSystem/clinical-lexicon: seeded with the shipped lexicon, and read
// by every decision as the shipped lexicon with the stored one's
// additions (a reviewed addition takes effect without a release; nothing
// stored can remove a shipped pattern). A write that does not compile is
// refused, so a decision never runs on a broken lexicon.

// lexiconURL is the lexicon CodeSystem's canonical url.
func (nav *Service) lexiconURL() string {
	return nav.host.CanonicalBase() + "/CodeSystem/" + freetext.ID
}

// seedLexicon stores the shipped lexicon as its CodeSystem (kept when an
// administrator has changed it).
func (nav *Service) seedLexicon(ctx context.Context) error {
	src, err := freetext.Shipped()
	if err != nil {
		return err
	}
	r, err := fhir.GenerateResource(src.CodeSystem(nav.lexiconURL()))
	if err != nil {
		return fmt.Errorf("clinical lexicon: %w", err)
	}
	if err := snomed.MarkShipped(r, src.Version); err != nil {
		return err
	}
	seeded, err := snomed.SeedResources(ctx, nav.host.Store(), []*fhir.Resource{r})
	if err != nil {
		return fmt.Errorf("clinical lexicon: %w", err)
	}
	nav.host.NoteSeeded(ctx, "clinical lexicon", seeded)
	return nil
}

// compileLexicon is the shipped lexicon with a stored CodeSystem's
// additions.
func compileLexicon(obj map[string]any) (*freetext.Lexicon, error) {
	extra, err := freetext.SourceFromCodeSystem(obj)
	if err != nil {
		return nil, err
	}
	return freetext.WithAdditions(extra)
}

// lexicon is the lexicon decisions read, compiled once per stored
// version.
func (nav *Service) lexicon(ctx context.Context) (*freetext.Lexicon, error) {
	var v store.Version
	return nav.lex.Get("", func() (int64, error) {
		var err error
		v, err = nav.host.Store().Read(ctx, "CodeSystem", freetext.ID)
		if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
			return 0, nil
		}
		return v.VersionID, err
	}, func(version int64) (*freetext.Lexicon, error) {
		if version == 0 {
			// Deleted: the shipped lexicon (restored at the next start).
			return freetext.ShippedLexicon()
		}
		obj, err := decode(v.Body)
		if err != nil {
			return nil, err
		}
		lex, err := compileLexicon(obj)
		if err != nil {
			// Refused on write; a store edited behind the gateway's back
			// falls back to the shipped lexicon, loudly (once per
			// version).
			nav.host.Logger().LogAttrs(ctx, slog.LevelError, "the stored clinical lexicon does not compile: the shipped lexicon is used", slog.Int64("version", v.VersionID), slog.String("error", err.Error()))
			return freetext.ShippedLexicon()
		}
		return lex, nil
	})
}

// CheckLexicon is the write check of CodeSystem/clinical-lexicon: it must
// compile with the shipped lexicon. (Who may write it is the rule of all
// cross-practice configuration, the gateway's: it changes what every
// practice's decisions read.)
func (nav *Service) CheckLexicon(ctx context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
	obj := r.Object()
	url, _ := obj["url"].(string)
	if r.ID() != freetext.ID && url != nav.lexiconURL() {
		return nil, nil
	}
	if r.ID() != freetext.ID {
		return []fhir.Issue{{Severity: fhir.SeverityError, Code: fhir.CodeBusinessRule, Expression: []string{"CodeSystem.id"},
			Diagnostics: fmt.Sprintf("the clinical lexicon (%s) is CodeSystem/%s; update that resource instead of creating another", url, freetext.ID)}}, nil
	}
	if _, err := compileLexicon(obj); err != nil {
		return []fhir.Issue{{Severity: fhir.SeverityError, Code: fhir.CodeInvalid, Expression: []string{"CodeSystem.concept"},
			Diagnostics: "the clinical lexicon does not compile: " + err.Error()}}, nil
	}
	nav.Unsettle(ctx, r, false)
	return nil, nil
}
