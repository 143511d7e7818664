package snomed

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/signpost-fhir/signpost/snomed/sctid"
)

// Description types (RF2 typeId).
const (
	typeFSN     = "900000000000003001"
	typeSynonym = "900000000000013009"
)

// RF2Options tunes LoadRF2.
type RF2Options struct {
	// Version is the edition version URI to claim in answers, e.g.
	// http://snomed.info/sct/[edition module]/version/[YYYYMMDD]. A subset
	// cannot tell which edition it was cut from, so it is configured, not
	// guessed.
	Version string
}

// LoadRF2 loads a deployment's RF2 Snapshot subset from dir (searched
// recursively): every sct2_Concept_Snapshot*.txt and
// sct2_Description_Snapshot*.txt file, in the standard tab-separated layout
// with a header row. It replaces the shipped set rather than adding to it,
// so the release's active flags and terms are the ones answered.
//
// Rules, in the absence of a language reference set:
//   - a concept row with active 0 is kept as an inactive concept;
//   - inactive descriptions are ignored;
//   - the FSN is the active description of type 900000000000003001 (the
//     lowest description id when there are several);
//   - the preferred term is the active synonym (type 900000000000013009)
//     equal to the FSN without its semantic tag when there is one, else
//     the active synonym with the lowest description id, else the FSN
//     without its tag; the other active synonyms are accepted displays.
//
// Malformed identifiers fail the load with the file and line, so a broken
// extract is noticed at start-up rather than answered from.
func LoadRF2(dir string, opts RF2Options) (*ConceptSet, error) {
	var conceptFiles, descFiles []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".txt") {
			return nil
		}
		switch {
		case strings.HasPrefix(d.Name(), "sct2_Concept_Snapshot"):
			conceptFiles = append(conceptFiles, path)
		case strings.HasPrefix(d.Name(), "sct2_Description_Snapshot"):
			descFiles = append(descFiles, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snomed: RF2 folder: %w", err)
	}
	if len(conceptFiles) == 0 || len(descFiles) == 0 {
		return nil, fmt.Errorf("snomed: %s holds no sct2_Concept_Snapshot*.txt and sct2_Description_Snapshot*.txt files", dir)
	}
	sort.Strings(conceptFiles)
	sort.Strings(descFiles)

	l := &rf2Loader{index: map[uint64]int32{}, intern: map[string]string{}}
	for _, f := range conceptFiles {
		if err := l.file(f, conceptColumns, l.concept); err != nil {
			return nil, err
		}
	}
	for _, f := range descFiles {
		if err := l.file(f, descriptionColumns, l.description); err != nil {
			return nil, err
		}
	}
	date := l.maxTime
	if m := releaseDate.FindStringSubmatch(filepath.Base(conceptFiles[0])); m != nil {
		date = m[1]
	}
	rel := make([]string, 0, len(conceptFiles)+len(descFiles))
	for _, f := range append(append([]string{}, conceptFiles...), descFiles...) {
		rel = append(rel, filepath.Base(f))
	}
	ed := Edition{
		Name:    "RF2 snapshot subset from " + dir,
		Version: opts.Version,
		Date:    date,
		Source:  strings.Join(rel, ", "),
	}
	return l.finish(ed), nil
}

var releaseDate = regexp.MustCompile(`_(\d{8})\.txt$`)

var (
	conceptColumns     = []string{"id", "effectiveTime", "active", "moduleId", "definitionStatusId"}
	descriptionColumns = []string{"id", "effectiveTime", "active", "moduleId", "conceptId", "languageCode", "typeId", "term", "caseSignificanceId"}
)

type rf2Synonym struct {
	id   uint64
	term string
}

type rf2Concept struct {
	c     Concept
	fsnID uint64
	syns  []rf2Synonym
}

type rf2Loader struct {
	concepts []rf2Concept
	index    map[uint64]int32
	intern   map[string]string
	maxTime  string
}

func (l *rf2Loader) str(b []byte) string {
	if s, ok := l.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	l.intern[s] = s
	return s
}

// file reads one RF2 file, checking its header, and calls row for each line.
func (l *rf2Loader) file(path string, columns []string, row func(f [][]byte) error) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("snomed: %w", err)
	}
	defer fh.Close()
	r := bufio.NewReaderSize(fh, 1<<20)
	fields := make([][]byte, 0, len(columns))
	for n := 1; ; n++ {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return fmt.Errorf("snomed: %s line %d is longer than 1 MiB", filepath.Base(path), n)
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("snomed: %s: %w", filepath.Base(path), err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) > 0 {
			fields = splitTabs(fields[:0], line)
			if len(fields) != len(columns) {
				return fmt.Errorf("snomed: %s line %d: %d columns, want %d", filepath.Base(path), n, len(fields), len(columns))
			}
			if n == 1 {
				for i, c := range columns {
					if string(fields[i]) != c {
						return fmt.Errorf("snomed: %s: column %d is %q, want %q (not an RF2 file of this kind?)", filepath.Base(path), i+1, fields[i], c)
					}
				}
			} else if rerr := row(fields); rerr != nil {
				return fmt.Errorf("snomed: %s line %d: %w", filepath.Base(path), n, rerr)
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

func splitTabs(dst [][]byte, line []byte) [][]byte {
	for {
		i := bytes.IndexByte(line, '\t')
		if i < 0 {
			return append(dst, line)
		}
		dst = append(dst, line[:i])
		line = line[i+1:]
	}
}

func (l *rf2Loader) concept(f [][]byte) error {
	id, err := sctid.ParseBytes(f[0])
	if err != nil {
		return err
	}
	if id.Kind != sctid.Concept {
		return fmt.Errorf("%s is a %s id, not a concept id", f[0], id.Kind)
	}
	et := string(f[1])
	if len(et) != 8 {
		return fmt.Errorf("effectiveTime %q is not YYYYMMDD", f[1])
	}
	if et > l.maxTime {
		l.maxTime = et
	}
	c := Concept{Active: string(f[2]) == "1", ModuleID: l.str(f[3]), EffectiveTime: l.str(f[1])}
	if i, dup := l.index[id.Value]; dup {
		// A snapshot has one row per id; when several files repeat one,
		// the latest row wins.
		if old := &l.concepts[i].c; et >= old.EffectiveTime {
			c.ID = old.ID
			*old = c
		}
		return nil
	}
	c.ID = string(f[0])
	l.index[id.Value] = int32(len(l.concepts))
	l.concepts = append(l.concepts, rf2Concept{c: c})
	return nil
}

func (l *rf2Loader) description(f [][]byte) error {
	if string(f[2]) != "1" {
		return nil
	}
	did, err := sctid.ParseBytes(f[0])
	if err != nil {
		return err
	}
	if did.Kind != sctid.Description {
		return fmt.Errorf("description id %s is a %s id", f[0], did.Kind)
	}
	cid, ok := digits(f[4])
	if !ok {
		return fmt.Errorf("conceptId %q is not a number", f[4])
	}
	i, ok := l.index[cid]
	if !ok {
		return nil // a description of a concept outside the subset
	}
	c := &l.concepts[i]
	switch string(f[6]) {
	case typeFSN:
		if c.c.FSN == "" || did.Value < c.fsnID {
			c.c.FSN, c.fsnID = string(f[7]), did.Value
		}
	case typeSynonym:
		c.syns = append(c.syns, rf2Synonym{did.Value, string(f[7])})
	}
	return nil
}

// digits parses an unsigned decimal of at most 19 digits.
func digits(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

func (l *rf2Loader) finish(ed Edition) *ConceptSet {
	s := &ConceptSet{edition: ed, concepts: make([]Concept, len(l.concepts)), index: make(map[uint64]int32, len(l.concepts))}
	order := make([]uint64, 0, len(l.index))
	for v := range l.index {
		order = append(order, v)
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	for n, v := range order {
		rc := &l.concepts[l.index[v]]
		c := rc.c
		sort.Slice(rc.syns, func(i, j int) bool { return rc.syns[i].id < rc.syns[j].id })
		base, _ := splitSemanticTag(c.FSN)
		pick := -1
		for i, sy := range rc.syns {
			if c.FSN != "" && sy.term == base {
				pick = i
				break
			}
		}
		if pick < 0 && len(rc.syns) > 0 {
			pick = 0
		}
		if pick >= 0 {
			c.Preferred = rc.syns[pick].term
		} else {
			c.Preferred = base
		}
		if len(rc.syns) > 1 {
			c.Synonyms = make([]string, 0, len(rc.syns)-1)
			for i, sy := range rc.syns {
				if i != pick {
					c.Synonyms = append(c.Synonyms, sy.term)
				}
			}
		}
		s.concepts[n] = c
		s.index[v] = int32(n)
	}
	return s
}
