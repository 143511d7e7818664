package freetext

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kljensen/snowball/english"
)

// token is one word of a text after normalisation.
type token struct {
	// word is the normalised word (lower case, British spelling,
	// corrected), stem its Snowball stem.
	word, stem string
	// start and end are the byte offsets of the written word it came from
	// (the words of an expanded contraction share them).
	start, end int
	// sentence and clause number the word's sentence and clause.
	sentence, clause int
	// num: the word is a number (digits or a number word); value is it.
	num   bool
	value float64
	// unit is what was written stuck to a number ("wks" of "5wks").
	unit string
	// corrected: word is a correction of what was written.
	corrected bool
}

// dropped are words that carry nothing a pattern needs: determiners and
// possessives ("pain in my chest" is "pain in chest").
var dropped = map[string]bool{"a": true, "an": true, "the": true, "my": true, "his": true, "her": true,
	"their": true, "our": true, "your": true, "its": true}

// contractions without their apostrophe, as people type them.
var bareContractions = map[string][]string{
	"cant": {"can", "not"}, "cannot": {"can", "not"}, "wont": {"will", "not"}, "dont": {"do", "not"},
	"doesnt": {"does", "not"}, "didnt": {"did", "not"}, "isnt": {"is", "not"}, "wasnt": {"was", "not"},
	"hasnt": {"has", "not"}, "havent": {"have", "not"}, "hadnt": {"had", "not"}, "couldnt": {"could", "not"},
	"wouldnt": {"would", "not"}, "shouldnt": {"should", "not"}, "arent": {"are", "not"}, "werent": {"were", "not"},
	"aint": {"is", "not"}, "mustnt": {"must", "not"}, "neednt": {"need", "not"}, "im": {"i", "am"},
	"ive": {"i", "have"}, "cannae": {"can", "not"}, "canna": {"can", "not"}, "dinnae": {"do", "not"},
	"didnae": {"did", "not"}, "doesnae": {"does", "not"}, "isnae": {"is", "not"}, "wasnae": {"was", "not"},
	"wouldnae": {"would", "not"}, "couldnae": {"could", "not"}, "hasnae": {"has", "not"}, "havnae": {"have", "not"},
	"wilnae": {"will", "not"}, "theyre": {"they", "are"}, "youre": {"you", "are"}, "hes": {"he", "is"},
	"shes": {"she", "is"}, "thats": {"that", "is"}, "whats": {"what", "is"}, "theres": {"there", "is"},
}

// numberWords are the number words a pattern's #num matches.
var numberWords = map[string]float64{"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
	"seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
	"fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "few": 3, "couple": 2}

// expand splits one written word (lower case) into the words it stands
// for: contractions are expanded, possessive 's dropped.
func expand(w string) []string {
	w = strings.Trim(w, "'")
	if w == "" {
		return nil
	}
	if i := strings.IndexByte(w, '\''); i >= 0 {
		base, suf := w[:i], w[i+1:]
		switch {
		case suf == "t" && strings.HasSuffix(base, "n"):
			b := strings.TrimSuffix(base, "n")
			switch b {
			case "ca", "can":
				b = "can"
			case "wo":
				b = "will"
			case "sha":
				b = "shall"
			case "ai":
				b = "is"
			}
			return []string{b, "not"}
		case suf == "m":
			return []string{base, "am"}
		case suf == "re":
			return []string{base, "are"}
		case suf == "ve":
			return []string{base, "have"}
		case suf == "ll":
			return []string{base, "will"}
		case suf == "d":
			return []string{base, "would"}
		case suf == "s" || suf == "":
			return expand(base)
		}
		return []string{strings.ReplaceAll(w, "'", "")}
	}
	if x, ok := bareContractions[w]; ok {
		return x
	}
	return []string{w}
}

// british are British spellings of American ones, for the words a
// patient or a navigator is likely to write; suffix rules below cover the
// regular cases.
var british = map[string]string{
	"color": "colour", "colored": "coloured", "gray": "grey", "diarrhea": "diarrhoea", "anemia": "anaemia",
	"anemic": "anaemic", "hemorrhage": "haemorrhage", "hemorrhoids": "haemorrhoids", "esophagus": "oesophagus",
	"edema": "oedema", "fetal": "foetal", "fetus": "foetus", "pediatric": "paediatric", "estrogen": "oestrogen",
	"leukemia": "leukaemia", "tumor": "tumour", "tumors": "tumours", "behavior": "behaviour", "mold": "mould",
	"pajamas": "pyjamas", "hemoglobin": "haemoglobin", "orthopedic": "orthopaedic", "gynecology": "gynaecology",
	"ischemic": "ischaemic", "ischemia": "ischaemia", "septicemia": "septicaemia", "feces": "faeces",
	"fecal": "faecal", "dyspnea": "dyspnoea", "apnea": "apnoea", "anesthetic": "anaesthetic", "ameba": "amoeba",
	"favor": "favour", "vomitting": "vomiting", "mom": "mum", "mommy": "mummy", "diaper": "nappy", "diapers": "nappies",
	"pacifier": "dummy", "pediatrician": "paediatrician", "counseling": "counselling",
	"hospitalized": "hospitalised", "paralyzed": "paralysed",
	"paralyze": "paralyse", "analyze": "analyse", "recognize": "recognise", "realize": "realise",
	// Scots and northern English forms that change a word the lexicon
	// reads (the contractions among them are expanded below).
	"mooth": "mouth", "oot": "out", "heid": "head", "ead": "head", "naebody": "nobody", "naebdy": "nobody",
	"aff": "off", "hingin": "hanging", "gonnae": "going", "gonna": "going", "wanna": "want", "nae": "no",
	"thru": "through", "tho": "though", "tonite": "tonight", "nite": "night", "2day": "today", "2nite": "tonight",
	"b4": "before", "pls": "please", "plz": "please", "ur": "your", "sulfur": "sulphur", "aluminum": "aluminium", "jewelry": "jewellery", "center": "centre", "liter": "litre",
}

// toBritish gives the British spelling of w when it is a known American
// one.
func toBritish(w string) string {
	if b, ok := british[w]; ok {
		return b
	}
	// -ize forms of -ise verbs (paralyzed, hospitalized) are stemmed
	// alike by Snowball; other regular differences are left to it.
	return w
}

// boundary kinds of a character between words.
const (
	noBoundary = iota
	clauseBoundary
	sentenceBoundary
)

func boundaryOf(r rune) int {
	switch r {
	case '.', '!', '?', ';', '\n', '\r':
		return sentenceBoundary
	case ',', ':', '(', ')', '[', ']', '"', '|':
		return clauseBoundary
	}
	return noBoundary
}

// tokenize splits text into normalised tokens (before correction and
// stemming, which need the lexicon).
func tokenize(text string) []token {
	var out []token
	sentence, clause := 0, 0
	pending := noBoundary
	flush := func(word string, start, end int) {
		switch pending {
		case sentenceBoundary:
			sentence++
			clause++
		case clauseBoundary:
			clause++
		}
		pending = noBoundary
		for _, w := range expand(word) {
			if w == "" || dropped[w] {
				continue
			}
			t := token{word: toBritish(w), start: start, end: end, sentence: sentence, clause: clause}
			if v, ok := numberWords[t.word]; ok {
				t.num, t.value = true, v
			} else if v, unit, ok := parseNumber(t.word); ok {
				t.num, t.value, t.unit = true, v, unit
			}
			out = append(out, t)
		}
	}
	i := 0
	for i < len(text) {
		r, size := utf8.DecodeRuneInString(text[i:])
		if isWordRune(r) {
			start := i
			var b strings.Builder
			for i < len(text) {
				r, size = utf8.DecodeRuneInString(text[i:])
				switch {
				case isWordRune(r):
					b.WriteRune(unicode.ToLower(r))
				case r == '\'' || r == '\u2019' || r == '\u2018' || r == '`':
					b.WriteByte('\'')
				case r == '.' && b.Len() > 0 && isDigitString(b.String()) && i+1 < len(text) && text[i+1] >= '0' && text[i+1] <= '9':
					b.WriteByte('.') // a decimal point: 38.5
				default:
					goto done
				}
				i += size
			}
		done:
			flush(b.String(), start, i)
			continue
		}
		if k := boundaryOf(r); k > pending {
			pending = k
		}
		if r == '-' && i > 0 && i+1 < len(text) && text[i-1] == ' ' && text[i+1] == ' ' {
			// " - " as a dash between clauses.
			if pending < clauseBoundary {
				pending = clauseBoundary
			}
		}
		i += size
	}
	return out
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func isDigitString(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// parseNumber reads digits with an optional decimal part and an optional
// unit stuck to it ("38.5"; "5wks" is 5 and "wks").
func parseNumber(s string) (float64, string, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, "", false
	}
	v, frac, div, seenDot := 0.0, 0.0, 1.0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9' && !seenDot:
			v = v*10 + float64(c-'0')
		case c >= '0' && c <= '9':
			div *= 10
			frac += float64(c-'0') / div
		case c == '.' && !seenDot:
			seenDot = true
		default:
			return v + frac, s[i:], true
		}
	}
	return v + frac, "", true
}

// stem is the Snowball English stem of a normalised word (numbers are
// their own stem).
func stem(w string) string {
	if w == "" || (w[0] >= '0' && w[0] <= '9') {
		return w
	}
	return english.Stem(w, true)
}
