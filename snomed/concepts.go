package snomed

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/signpost-fhir/signpost/snomed/sctid"
)

//go:generate go run ./internal/gencodes -in ../testdata/snomed/verified-codes.csv -out data/concepts.tsv -taken 2026-11-21

//go:embed data/concepts.tsv
var shippedTSV []byte

// System is the FHIR code system URI of SNOMED CT.
const System = "http://snomed.info/sct"

// Concept is one SNOMED CT concept of the loaded set.
type Concept struct {
	ID     string
	Active bool
	// FSN is the fully specified name, with its semantic tag; empty when
	// the source gave only a synonym (some rows of the shipped set).
	FSN string
	// Preferred is the display Signpost gives the concept (see the package
	// doc for how it is chosen).
	Preferred string
	// Synonyms are the concept's other active synonyms, accepted as
	// displays by $validate-code.
	Synonyms []string
	// ModuleID and EffectiveTime come from an RF2 release; empty for the
	// shipped set.
	ModuleID      string
	EffectiveTime string
	// Hierarchy, Category and Source are the shipped set's provenance
	// columns; empty for an RF2 release.
	Hierarchy string
	Category  string
	Source    string
}

// SemanticTag is the FSN's trailing tag ("procedure"), or "".
func (c *Concept) SemanticTag() string {
	_, tag := splitSemanticTag(c.FSN)
	return tag
}

// Edition says where a concept set came from.
type Edition struct {
	// Name is human-readable: the shipped subset or the RF2 folder.
	Name string
	// Version is the SNOMED CT edition version URI
	// (http://snomed.info/sct/[module]/version/[YYYYMMDD]) when the
	// deployment configured one; empty otherwise, and then no version is
	// claimed in answers.
	Version string
	// Date is when the set was taken (shipped) or the release date read
	// from the RF2 file names (YYYYMMDD).
	Date string
	// Source is the provenance: the shipped file's metadata, or the RF2
	// files read.
	Source string
}

// ConceptSet is an immutable set of concepts, safe for concurrent reads.
type ConceptSet struct {
	edition  Edition
	concepts []Concept // sorted by numeric id
	index    map[uint64]int32
}

// Edition describes the set.
func (s *ConceptSet) Edition() Edition { return s.edition }

// Len is the number of concepts, active or not.
func (s *ConceptSet) Len() int { return len(s.concepts) }

// Get returns the concept with the given id, or false.
func (s *ConceptSet) Get(id string) (*Concept, bool) {
	v, err := strconv.ParseUint(id, 10, 64)
	if err != nil || (len(id) > 1 && id[0] == '0') {
		return nil, false
	}
	i, ok := s.index[v]
	if !ok {
		return nil, false
	}
	return &s.concepts[i], true
}

// All calls fn for every concept in numeric id order until fn returns false.
func (s *ConceptSet) All(fn func(*Concept) bool) {
	for i := range s.concepts {
		if !fn(&s.concepts[i]) {
			return
		}
	}
}

// newConceptSet indexes concepts; ids must be unique well-formed concept ids.
func newConceptSet(ed Edition, concepts []Concept) (*ConceptSet, error) {
	type keyed struct {
		v uint64
		c Concept
	}
	ks := make([]keyed, len(concepts))
	for i, c := range concepts {
		id, err := sctid.ParseConcept(c.ID)
		if err != nil {
			return nil, err
		}
		ks[i] = keyed{id.Value, c}
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].v < ks[j].v })
	s := &ConceptSet{edition: ed, concepts: make([]Concept, len(ks)), index: make(map[uint64]int32, len(ks))}
	for i, k := range ks {
		if i > 0 && ks[i-1].v == k.v {
			return nil, fmt.Errorf("snomed: concept %s appears twice", k.c.ID)
		}
		s.concepts[i] = k.c
		s.index[k.v] = int32(i)
	}
	return s, nil
}

// Shipped loads the subset embedded in the binary, generated from
// testdata/snomed/verified-codes.csv. Every shipped concept is active as far
// as the cited sources go; the edition records that their status in a
// current release was not checked.
func Shipped() (*ConceptSet, error) { return parseShipped(shippedTSV) }

func parseShipped(data []byte) (*ConceptSet, error) {
	meta := map[string]string{}
	var concepts []Concept
	sc := bufio.NewScanner(bytes.NewReader(data))
	header := false
	line := 0
	for sc.Scan() {
		line++
		l := sc.Text()
		if l == "" {
			continue
		}
		if strings.HasPrefix(l, "#") {
			if k, v, ok := strings.Cut(strings.TrimSpace(l[1:]), ":"); ok && !strings.ContainsAny(k, " `") {
				meta[k] = strings.TrimSpace(v)
			}
			continue
		}
		f := strings.Split(l, "\t")
		if !header {
			if strings.Join(f, ",") != "sctid,fsn,preferred,hierarchy,category,source" {
				return nil, fmt.Errorf("snomed: shipped subset line %d: unexpected header %q", line, l)
			}
			header = true
			continue
		}
		if len(f) != 6 {
			return nil, fmt.Errorf("snomed: shipped subset line %d: %d columns, want 6", line, len(f))
		}
		concepts = append(concepts, Concept{
			ID: f[0], Active: true, FSN: f[1], Preferred: f[2],
			Hierarchy: f[3], Category: f[4], Source: f[5],
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("snomed: shipped subset: %w", err)
	}
	ed := Edition{
		Name:   "Signpost shipped subset",
		Date:   meta["taken"],
		Source: fmt.Sprintf("%s; from %s (sha256 %s)", meta["edition"], meta["source-file"], meta["source-sha256"]),
	}
	return newConceptSet(ed, concepts)
}

// splitSemanticTag splits "Term (tag)" into "Term" and "tag". Unlike the
// generator it accepts any trailing parenthesis: in an RF2 release every
// FSN ends with its tag.
func splitSemanticTag(fsn string) (string, string) {
	if !strings.HasSuffix(fsn, ")") {
		return fsn, ""
	}
	i := strings.LastIndex(fsn, " (")
	if i <= 0 {
		return fsn, ""
	}
	return fsn[:i], fsn[i+2 : len(fsn)-1]
}
