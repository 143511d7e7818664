package freetext

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Lexicon is a compiled lexicon: what Analyse matches texts with. It is
// safe for concurrent use.
type Lexicon struct {
	Version  string
	Concepts []*Concept
	byCode   map[string]*Concept

	root    *trieNode
	elems   int
	numElem int // the #num element's id
	slots   []slot
	// byFirst lists the slots that start with an element.
	byFirst map[int][]int
	// numFirst lists the slots that start with #num.
	numFirst []int
	patterns []pattern
	// byFirstSlot lists the patterns (indexes) that start with a slot.
	byFirstSlot map[int][]int

	// vocab holds every word of the patterns and groups as written
	// (normalised), stems every stem: what the text's words are
	// corrected towards. deletes is the symmetric-delete index of both.
	vocab, stems map[string]bool
	deletes      map[string][]string
}

// trieNode is a node of the word trie: the element ids whose alternative
// ends here.
type trieNode struct {
	next  map[string]*trieNode
	elems []int
}

// slot is a sequence of elements matched in order; gap[i] allows up to
// maxGap words before element i.
type slot struct {
	elems []int
	gap   []bool
}

const maxGap = 3

// pattern is one match line of a concept: its slots, all within the
// concept's window.
type pattern struct {
	concept *Concept
	slots   []int
	within  int
	text    string
}

// negationWords are the stems of the words that keep a match within one
// clause.
var negationWords = map[string]bool{"no": true, "not": true, "never": true, "none": true, "without": true, "nothing": true, "nil": true, "nobodi": true, "noth": true}

// Compile checks a lexicon and builds its matcher.
func Compile(src *Source) (*Lexicon, error) {
	if err := src.check(); err != nil {
		return nil, err
	}
	l := &Lexicon{Version: src.Version, byCode: map[string]*Concept{}, root: &trieNode{}, byFirst: map[int][]int{},
		vocab: map[string]bool{}, stems: map[string]bool{}, byFirstSlot: map[int][]int{}}
	c := &compiler{l: l, groups: map[string][]string{}, elemIDs: map[string]int{}, slotIDs: map[string]int{}}
	l.numElem = c.newElem()
	for _, g := range src.Groups {
		c.groups[g.Name] = g.Alternatives
	}
	for i := range src.Concepts {
		con := src.Concepts[i]
		con.Match = append([]string(nil), con.Match...)
		con.AcceptedBy = append([]string(nil), con.AcceptedBy...)
		cp := &con
		l.Concepts = append(l.Concepts, cp)
		l.byCode[cp.Code] = cp
		within := cp.Within
		if within == 0 {
			within = DefaultWithin
		}
		for _, m := range cp.Match {
			p, err := c.pattern(m)
			if err != nil {
				return nil, fmt.Errorf("concept %s, pattern %q: %w", cp.Code, m, err)
			}
			p.concept, p.within, p.text = cp, within, m
			l.byFirstSlot[p.slots[0]] = append(l.byFirstSlot[p.slots[0]], len(l.patterns))
			l.patterns = append(l.patterns, p)
		}
	}
	l.buildDeletes()
	return l, nil
}

// WithAdditions is the shipped lexicon with extra's additions (Merge),
// compiled. When extra adds nothing (the stored lexicon as seeded, the
// usual case), it is the shipped lexicon, compiled once per process: a
// compile costs tens of milliseconds, paid by every gateway that starts.
func WithAdditions(extra *Source) (*Lexicon, error) {
	base, err := Shipped()
	if err != nil {
		return nil, err
	}
	merged, err := Merge(base, extra)
	if err != nil {
		return nil, err
	}
	if sameSource(merged, base) {
		return ShippedLexicon()
	}
	return Compile(merged)
}

// sameSource reports whether a and b compile to the same lexicon: equal
// but for nil and empty lists.
func sameSource(a, b *Source) bool {
	if a.Version != b.Version || len(a.Groups) != len(b.Groups) || len(a.Concepts) != len(b.Concepts) {
		return false
	}
	for i := range a.Groups {
		if a.Groups[i].Name != b.Groups[i].Name || !slices.Equal(a.Groups[i].Alternatives, b.Groups[i].Alternatives) {
			return false
		}
	}
	for i := range a.Concepts {
		x, y := a.Concepts[i], b.Concepts[i]
		if !slices.Equal(x.Match, y.Match) || !slices.Equal(x.AcceptedBy, y.AcceptedBy) {
			return false
		}
		x.Match, y.Match, x.AcceptedBy, y.AcceptedBy = nil, nil, nil, nil
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

// Concept is the concept of a code, nil when the lexicon has none.
func (l *Lexicon) Concept(code string) *Concept { return l.byCode[code] }

type compiler struct {
	l       *Lexicon
	groups  map[string][]string
	elemIDs map[string]int
	slotIDs map[string]int
}

func (c *compiler) newElem() int {
	id := c.l.elems
	c.l.elems++
	return id
}

// maxExpansion bounds the word sequences one element stands for.
const maxExpansion = 20000

// pattern compiles one match line.
func (c *compiler) pattern(text string) (pattern, error) {
	var p pattern
	for _, part := range strings.Split(text, " + ") {
		part = strings.TrimSpace(part)
		if part == "" {
			return p, fmt.Errorf("an empty slot")
		}
		key := strings.Join(strings.Fields(part), " ")
		if id, ok := c.slotIDs[key]; ok {
			p.slots = append(p.slots, id)
			continue
		}
		var s slot
		gap := false
		for _, f := range strings.Fields(part) {
			if f == "~" {
				if len(s.elems) == 0 || gap {
					return p, fmt.Errorf("'~' must stand between two elements")
				}
				gap = true
				continue
			}
			ids, err := c.element(f)
			if err != nil {
				return p, err
			}
			for i, id := range ids {
				s.elems = append(s.elems, id)
				s.gap = append(s.gap, gap && i == 0)
			}
			gap = false
		}
		if gap {
			return p, fmt.Errorf("'~' must stand between two elements")
		}
		if len(s.elems) == 0 {
			return p, fmt.Errorf("slot %q has no words (a, the, my... are dropped)", part)
		}
		id := len(c.l.slots)
		c.l.slots = append(c.l.slots, s)
		c.slotIDs[key] = id
		if s.elems[0] == c.l.numElem {
			c.l.numFirst = append(c.l.numFirst, id)
		} else {
			c.l.byFirst[s.elems[0]] = append(c.l.byFirst[s.elems[0]], id)
		}
		p.slots = append(p.slots, id)
	}
	return p, nil
}

// element compiles one element of a slot to element ids: a word that
// normalises to several words ("can't") is several elements in a row.
func (c *compiler) element(f string) ([]int, error) {
	if id, ok := c.elemIDs[f]; ok {
		return []int{id}, nil
	}
	if f == "#num" {
		return []int{c.l.numElem}, nil
	}
	var seqs [][]string
	switch {
	case strings.HasPrefix(f, "@"):
		if strings.Contains(f, "|") {
			return nil, fmt.Errorf("%q mixes a group with alternatives: make a group", f)
		}
		var err error
		if seqs, err = c.expandGroup(f[1:], 0); err != nil {
			return nil, err
		}
	default:
		for _, w := range strings.Split(f, "|") {
			if w == "" {
				return nil, fmt.Errorf("%q has an empty alternative", f)
			}
			ws := c.words(w)
			if len(ws) > 1 && !strings.Contains(f, "|") {
				// A contraction in a pattern: its words in a row.
				var ids []int
				for _, x := range ws {
					ids = append(ids, c.wordElem(x))
				}
				return ids, nil
			}
			if len(ws) > 0 {
				seqs = append(seqs, ws)
			}
		}
	}
	if len(seqs) == 0 {
		return nil, nil // only dropped words
	}
	id := c.newElem()
	for _, s := range seqs {
		c.insert(s, id)
	}
	c.elemIDs[f] = id
	return []int{id}, nil
}

func (c *compiler) wordElem(stem string) int {
	key := "=" + stem
	if id, ok := c.elemIDs[key]; ok {
		return id
	}
	id := c.newElem()
	c.insert([]string{stem}, id)
	c.elemIDs[key] = id
	return id
}

// words normalises the words of a pattern alternative to stems, adding
// them to the vocabulary.
func (c *compiler) words(s string) []string {
	var out []string
	for _, t := range tokenize(s) {
		if t.num {
			out = append(out, t.word)
			continue
		}
		c.l.vocab[t.word] = true
		st := stem(t.word)
		c.l.stems[st] = true
		out = append(out, st)
	}
	return out
}

// expandGroup is the word sequences a group stands for.
func (c *compiler) expandGroup(name string, depth int) ([][]string, error) {
	if depth > 8 {
		return nil, fmt.Errorf("group @%s refers to itself", name)
	}
	alts, ok := c.groups[name]
	if !ok {
		return nil, fmt.Errorf("group @%s is not defined", name)
	}
	var out [][]string
	for _, alt := range alts {
		seqs := [][]string{nil}
		for _, f := range strings.Fields(alt) {
			var parts [][]string
			if strings.HasPrefix(f, "@") {
				sub, err := c.expandGroup(f[1:], depth+1)
				if err != nil {
					return nil, err
				}
				parts = sub
			} else {
				ws := c.words(f)
				if len(ws) == 0 {
					continue
				}
				parts = [][]string{ws}
			}
			var next [][]string
			for _, s := range seqs {
				for _, p := range parts {
					next = append(next, append(append([]string(nil), s...), p...))
				}
			}
			if len(next) > maxExpansion {
				return nil, fmt.Errorf("group @%s stands for more than %d word sequences", name, maxExpansion)
			}
			seqs = next
		}
		for _, s := range seqs {
			if len(s) > 0 {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func (c *compiler) insert(seq []string, elem int) {
	n := c.l.root
	for _, w := range seq {
		if n.next == nil {
			n.next = map[string]*trieNode{}
		}
		nx, ok := n.next[w]
		if !ok {
			nx = &trieNode{}
			n.next[w] = nx
		}
		n = nx
	}
	for _, e := range n.elems {
		if e == elem {
			return
		}
	}
	n.elems = append(n.elems, elem)
}

// Correction: a word the lexicon does not know is corrected to one it
// does when they are one edit apart (two for long words), start with the
// same letter and the word is long enough that short words do not
// collide ("fit" and "fat" are both real words). Candidates come from a
// symmetric-delete index of the vocabulary (every word with one letter
// deleted, and with two for long words); each is confirmed with the
// optimal string alignment distance.

// minCorrect is the shortest word corrected; minCorrect2 the shortest
// corrected by two edits.
const (
	minCorrect  = 5
	minCorrect2 = 9
)

func (l *Lexicon) buildDeletes() {
	l.deletes = map[string][]string{}
	add := func(w string) {
		if len(w) < minCorrect || !isLetters(w) {
			return
		}
		for _, d := range deletions(w, len(w) >= minCorrect2-1) {
			l.deletes[d] = appendNew(l.deletes[d], w)
		}
	}
	words := make([]string, 0, len(l.vocab)+len(l.stems))
	for w := range l.vocab {
		words = append(words, w)
	}
	for w := range l.stems {
		words = append(words, w)
	}
	sort.Strings(words) // deterministic candidate order
	for _, w := range words {
		add(w)
	}
}

func isLetters(w string) bool {
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return true
}

// deletions is w itself and w with one letter deleted (and two when
// twice is set).
func deletions(w string, twice bool) []string {
	out := []string{w}
	for i := 0; i < len(w); i++ {
		d := w[:i] + w[i+1:]
		out = append(out, d)
		if twice {
			for j := i; j < len(d); j++ {
				out = append(out, d[:j]+d[j+1:])
			}
		}
	}
	return out
}
