package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/mapping/freetext"
	"github.com/signpost-fhir/signpost/snomed"
)

// The clinical lexicon (mapping/freetext) as a stored CodeSystem,
// CodeSystem/clinical-lexicon: seeded with the shipped lexicon, and read
// by every decision as the shipped lexicon with the stored one's
// additions (a reviewed addition takes effect without a release; nothing
// stored can remove a shipped pattern). A write that does not compile is
// refused, so a decision never runs on a broken lexicon.

type cachedLexicon struct {
	version int64 // 0: none stored
	lex     *freetext.Lexicon
	checked time.Time
}

// lexiconURL is the lexicon CodeSystem's canonical url.
func (nav *navigation) lexiconURL() string {
	return nav.s.opts.CanonicalBase + "/CodeSystem/" + freetext.ID
}

// seedLexicon stores the shipped lexicon as its CodeSystem (kept when an
// administrator has changed it).
func (nav *navigation) seedLexicon(ctx context.Context) error {
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
	seeded, err := snomed.SeedResources(ctx, nav.s.store, []*fhir.Resource{r})
	if err != nil {
		return fmt.Errorf("clinical lexicon: %w", err)
	}
	nav.s.NoteSeeded(ctx, "clinical lexicon", seeded)
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
func (nav *navigation) lexicon(ctx context.Context) (*freetext.Lexicon, error) {
	nav.mu.Lock()
	c := nav.lex
	nav.mu.Unlock()
	if c != nil && nav.fresh(c.checked) {
		return c.lex, nil
	}
	checked := time.Now()
	v, err := nav.s.store.Read(ctx, "CodeSystem", freetext.ID)
	var lex *freetext.Lexicon
	var version int64
	switch {
	case errors.Is(err, fhir.ErrNotFound), errors.Is(err, fhir.ErrDeleted):
		// Deleted: the shipped lexicon (restored at the next start).
		if lex, err = freetext.ShippedLexicon(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	case c != nil && c.version == v.VersionID:
		lex, version = c.lex, c.version
	default:
		obj, err := navDecode(v.Body)
		if err != nil {
			return nil, err
		}
		if lex, err = compileLexicon(obj); err != nil {
			// Refused on write; a store edited behind the gateway's back
			// falls back to the shipped lexicon, loudly.
			nav.s.log.LogAttrs(ctx, slog.LevelError, "the stored clinical lexicon does not compile: the shipped lexicon is used", slog.Int64("version", v.VersionID), slog.String("error", err.Error()))
			if lex, err = freetext.ShippedLexicon(); err != nil {
				return nil, err
			}
		}
		version = v.VersionID
	}
	nav.mu.Lock()
	nav.lex = &cachedLexicon{version: version, lex: lex, checked: checked}
	nav.mu.Unlock()
	return lex, nil
}

// checkLexicon is the write check of CodeSystem/clinical-lexicon: it must
// compile with the shipped lexicon. (Who may write it is the rule of all
// cross-practice configuration, sharedconfig.go: it changes what every
// practice's decisions read.)
func (nav *navigation) checkLexicon(ctx context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
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
	nav.unsettle(ctx, r, false)
	return nil, nil
}
