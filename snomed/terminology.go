package snomed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// DefaultBase is the canonical base of the local code systems when a
// deployment sets none. (.example is reserved for documentation: a
// deployment sets its own.)
const DefaultBase = "https://signpost.example/fhir"

// ShippedTagSystem is the meta.tag system marking a resource as shipped
// content; the tag's code is the hash of the content (without meta), so
// Seed can tell shipped content from an administrator's edit.
const ShippedTagSystem = "urn:signpost:shipped-content"

// Options configures a Terminology.
type Options struct {
	// Base is the canonical base of the local code systems, value sets and
	// concept maps: [Base]/CodeSystem/[id]. Default DefaultBase.
	Base string
}

// Terminology answers the terminology operations for SNOMED CT (from the
// in-memory concept set) and for the local code systems (from the
// CodeSystem, ValueSet and ConceptMap resources in the store, read at call
// time so an administrator's PUT takes effect on the next call).
type Terminology struct {
	concepts *ConceptSet
	shipped  *ConceptSet
	base     string
	byCat    map[string][]*Concept
}

// Source reads the current version of a resource. store.Store satisfies it;
// it is the only I/O a Terminology does at request time.
type Source interface {
	Read(ctx context.Context, typ, id string) (store.Version, error)
}

var _ Source = (store.Store)(nil)

// New builds a Terminology over the loaded concept set (Shipped() or
// LoadRF2). The shipped value sets and concept map are always built from
// the embedded subset; codes missing from a deployment's set are reported
// by MissingCodes.
func New(concepts *ConceptSet, opts Options) (*Terminology, error) {
	if concepts == nil {
		return nil, fmt.Errorf("snomed: no concept set")
	}
	base := strings.TrimRight(opts.Base, "/")
	if base == "" {
		base = DefaultBase
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("snomed: canonical base %q is not an http(s) URL", base)
	}
	shipped, err := Shipped()
	if err != nil {
		return nil, err
	}
	t := &Terminology{concepts: concepts, shipped: shipped, base: base, byCat: map[string][]*Concept{}}
	shipped.All(func(c *Concept) bool {
		t.byCat[c.Category] = append(t.byCat[c.Category], c)
		return true
	})
	return t, nil
}

// Base is the canonical base of the local resources.
func (t *Terminology) Base() string { return t.base }

// Concepts is the loaded SNOMED CT concept set.
func (t *Terminology) Concepts() *ConceptSet { return t.concepts }

// URL is the canonical URL of a local resource: [base]/[typ]/[id].
func (t *Terminology) URL(typ, id string) string { return t.base + "/" + typ + "/" + id }

// LocalCoding is a coding of a local code system with its shipped display.
func (t *Terminology) LocalCoding(system, code string) Coding {
	c := Coding{System: t.URL("CodeSystem", system), Code: code}
	if ls, ok := localSystemByID(system); ok {
		for _, lc := range ls.Concepts {
			if lc.Code == code {
				c.Display = lc.Display
			}
		}
	}
	return c
}

// SNOMEDCoding is a SNOMED CT coding with the preferred term of the loaded
// set as display (empty when the concept is not loaded).
func (t *Terminology) SNOMEDCoding(code string) Coding {
	c := Coding{System: System, Code: code}
	if con, ok := t.concepts.Get(code); ok {
		c.Display = con.Preferred
	}
	return c
}

// MissingCodes lists the SNOMED CT codes the shipped value sets and concept
// map use that the loaded set lacks (empty for the shipped set). A
// deployment that loads its own release logs them at start-up.
func (t *Terminology) MissingCodes() []string {
	var out []string
	seen := map[string]bool{}
	check := func(code string) {
		if _, ok := t.concepts.Get(code); !ok && !seen[code] {
			seen[code] = true
			out = append(out, code)
		}
	}
	for _, vs := range snomedValueSets {
		for _, cat := range vs.Categories {
			for _, c := range t.byCat[cat] {
				check(c.ID)
			}
		}
	}
	for _, r := range allocationRows {
		for _, code := range []string{r.ServiceType, r.Decision, r.Performer} {
			if isSCTID(code) {
				check(code)
			}
		}
	}
	return out
}

func isSCTID(code string) bool {
	if code == "" {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// Coding is a FHIR Coding.
type Coding struct {
	System  string
	Version string
	Code    string
	Display string
}

func (c Coding) json() map[string]any {
	m := map[string]any{"system": c.System, "code": c.Code}
	if c.Version != "" {
		m["version"] = c.Version
	}
	if c.Display != "" {
		m["display"] = c.Display
	}
	return m
}

// JSON is the Coding as a FHIR JSON object.
func (c Coding) JSON() map[string]any { return c.json() }

// contentHash is the hash Seed compares: the resource's JSON without meta.
func contentHash(obj map[string]any) (string, error) {
	c := make(map[string]any, len(obj))
	for k, v := range obj {
		if k != "meta" {
			c[k] = v
		}
	}
	b, err := fhir.EncodeJSON(c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12]), nil
}

// ContentHash is the hash a shipped resource's meta.tag carries: of its
// JSON without meta. Exported for tools and tests that prepare stores.
func ContentHash(obj map[string]any) (string, error) { return contentHash(obj) }
