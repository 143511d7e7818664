package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A JSON value as Signpost holds it: map[string]any, []any, string,
// json.Number (the literal text, so 1.50 stays 1.50), bool or nil.
//
// decodeJSON is strict where encoding/json is lenient and FHIR is not:
// duplicate member names, invalid UTF-8 and trailing data are errors
// (encoding/json keeps the last duplicate and replaces bad bytes silently),
// and so are strings FHIR cannot hold (CheckText: a control character
// written as an escape, \u0000).
func decodeJSON(data []byte) (any, error) { return decode(data, true) }

// decodeGo decodes what encoding/json made of a Go value the server
// built (marshalTree): the same, but it leaves the strings alone, as
// Generate does with the trees it copies.
func decodeGo(data []byte) (any, error) { return decode(data, false) }

func decode(data []byte, fhirText bool) (any, error) {
	// A UTF-8 byte order mark is ignored, as RFC 8259 8.1 allows and
	// HAPI FHIR does.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("body is not valid UTF-8")
	}
	p := parser{data: data, fhirText: fhirText}
	p.skipSpace()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.errorf("unexpected data after the top-level value")
	}
	return v, nil
}

// maxDepth bounds nesting so a hostile body cannot exhaust the stack.
const maxDepth = 200

type parser struct {
	data []byte
	pos  int
	// fhirText refuses strings CheckText refuses.
	fhirText bool
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("malformed JSON at byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested deeper than %d levels", maxDepth)
	}
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	default:
		return nil, p.errorf("unexpected character %q", c)
	}
}

func (p *parser) literal(word string) error {
	if len(p.data)-p.pos < len(word) || string(p.data[p.pos:p.pos+len(word)]) != word {
		return p.errorf("invalid literal")
	}
	p.pos += len(word)
	return nil
}

func (p *parser) object(depth int) (any, error) {
	p.pos++ // {
	obj := make(map[string]any)
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return obj, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("expected a member name")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := obj[key]; dup {
			return nil, p.errorf("duplicate member %q", key)
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("expected ':' after member name")
		}
		p.pos++
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		obj[key] = v
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of input in object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return obj, nil
		default:
			return nil, p.errorf("expected ',' or '}' in object")
		}
	}
}

func (p *parser) array(depth int) (any, error) {
	p.pos++ // [
	arr := make([]any, 0, 4)
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return arr, nil
	}
	for {
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of input in array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return arr, nil
		default:
			return nil, p.errorf("expected ',' or ']' in array")
		}
	}
}

func (p *parser) str() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	escaped := false
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			if !escaped {
				return string(p.data[start+1 : p.pos-1]), nil
			}
			// A lone surrogate is refused rather than turned into
			// U+FFFD: the client's character would be lost without a
			// word.
			if esc := loneSurrogate(p.data[start+1 : p.pos-1]); esc != "" {
				p.pos = start
				return "", p.errorf("the escape %s is half of a UTF-16 surrogate pair, not a character", esc)
			}
			s, ok := unescape(p.data[start+1 : p.pos-1])
			if !ok {
				p.pos = start
				return "", p.errorf("invalid string escape")
			}
			// Only an escape can put a control character in: raw ones
			// are refused below.
			if p.fhirText {
				if err := CheckText(s); err != nil {
					p.pos = start
					return "", p.errorf("a string cannot be a FHIR value: %v", err)
				}
			}
			return s, nil
		case c == '\\':
			escaped = true
			p.pos += 2
		case c < 0x20:
			return "", p.errorf("control character in string")
		default:
			p.pos++
		}
	}
	return "", p.errorf("unterminated string")
}

// unescape is the value of a JSON string's raw text (between its quotes)
// holding escapes, whose surrogates are known to pair (loneSurrogate);
// ok is false for an escape JSON does not have. It is what
// encoding/json.Unmarshal makes of the string (FuzzUnescape), at a
// fraction of the cost: a narrative is one long string full of escapes.
func unescape(raw []byte) (string, bool) {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i+1 >= len(raw) {
			return "", false
		}
		i++
		switch raw[i] {
		case '"', '\\', '/':
			out = append(out, raw[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4At(raw, i+1)
			if !ok {
				return "", false
			}
			i += 4
			if utf16.IsSurrogate(r) {
				low, ok := hex4At(raw, i+3)
				if !ok || i+2 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
					return "", false
				}
				if r = utf16.DecodeRune(r, low); r == utf8.RuneError {
					return "", false
				}
				i += 6
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return string(out), true
}

// hex4At is the rune of the four hex digits at raw[i:i+4].
func hex4At(raw []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// loneSurrogate returns the first \uXXXX escape of a JSON string's raw
// text that is a surrogate not paired high-then-low, or "".
func loneSurrogate(raw []byte) string {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		r, ok := hex4(i)
		if !ok {
			i++ // a two-character escape: skip what it escapes
			continue
		}
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if low, ok := hex4(i + 6); ok && low >= 0xDC00 && low <= 0xDFFF {
				i += 11
				continue
			}
			return string(raw[i : i+6])
		case r >= 0xDC00 && r <= 0xDFFF:
			return string(raw[i : i+6])
		}
		i += 5
	}
	return ""
}

func (p *parser) number() (any, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	if digits() == 0 {
		return nil, p.errorf("invalid number")
	}
	if p.data[intStart] == '0' && p.pos-intStart > 1 {
		return nil, p.errorf("leading zero in number")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.errorf("invalid fraction in number")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.errorf("invalid exponent in number")
		}
	}
	return json.Number(p.data[start:p.pos]), nil
}

// appendJSON writes v compactly. Object members come in a stable order:
// resourceType, id and meta first (as FHIR JSON is usually read), then the
// rest by name. HTML characters are not escaped: the output is FHIR JSON,
// not a script.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case json.Number:
		if !validNumber(string(x)) {
			return nil, fmt.Errorf("invalid JSON number %q", string(x))
		}
		return append(b, x...), nil
	case string:
		return appendString(b, x), nil
	case RawJSON:
		return append(b, x...), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		return appendObject(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		return strconv.AppendFloat(b, x, 'g', -1, 64), nil
	default:
		return nil, fmt.Errorf("cannot encode %T as FHIR JSON", v)
	}
}

// member is an object member while an object is written.
type member struct {
	key   string
	value any
	rank  int // leadingRank of key
}

// leadingRank puts resourceType, id and meta first, in that order, and
// every other member after them (by name).
func leadingRank(k string) int {
	switch k {
	case "resourceType":
		return 0
	case "id":
		return 1
	case "meta":
		return 2
	}
	return 3
}

// appendObject writes x's members in appendJSON's order, from one pass
// over the map (FHIR objects are small: their members are sorted on the
// stack).
func appendObject(b []byte, x map[string]any) ([]byte, error) {
	var room [24]member
	ms := room[:0]
	for k, v := range x {
		ms = append(ms, member{k, v, leadingRank(k)})
	}
	slices.SortFunc(ms, func(a, c member) int {
		if a.rank != c.rank {
			return a.rank - c.rank
		}
		return strings.Compare(a.key, c.key)
	})
	b = append(b, '{')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, m.key)
		b = append(b, ':')
		var err error
		if b, err = appendJSON(b, m.value); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func validNumber(s string) bool {
	p := parser{data: []byte(s)}
	if len(s) == 0 {
		return false
	}
	_, err := p.number()
	return err == nil && p.pos == len(s)
}

const hexDigits = "0123456789abcdef"

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Str is v as a string, or "" when it is not one: the one accessor for a
// string member of a decoded JSON tree.
func Str(v any) string { s, _ := v.(string); return s }

// List is v as an array, or nil when it is not one: the one accessor for
// an array member of a decoded JSON tree.
func List(v any) []any { l, _ := v.([]any); return l }

// CloneObject is a deep copy of a decoded JSON object: the one copy of a
// tree, for code that builds a changed resource from one it does not own.
func CloneObject(m map[string]any) map[string]any {
	c, _ := cloneValue(m).(map[string]any)
	return c
}
