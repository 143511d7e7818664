package sctid

import (
	"fmt"
	"strconv"
)

// Kind is what an identifier identifies (the partition's second digit).
type Kind int

const (
	Concept Kind = iota
	Description
	Relationship
)

func (k Kind) String() string {
	switch k {
	case Concept:
		return "concept"
	case Description:
		return "description"
	case Relationship:
		return "relationship"
	}
	return "unknown"
}

// ID is a parsed, well-formed SCTID.
type ID struct {
	Value uint64
	Kind  Kind
	// Long is the extension format (partition 1x); Namespace then holds the
	// seven-digit namespace identifier, else it is empty.
	Long      bool
	Namespace string
}

func (id ID) String() string { return strconv.FormatUint(id.Value, 10) }

// Error says why a string is not a well-formed SCTID.
type Error struct {
	Input  string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("%q is not a valid SCTID: %s", e.Input, e.Reason) }

// Parse checks s and returns its parts. The checks, in order: 6 to 18
// digits, no leading zero, the Verhoeff check digit, a known partition
// (00, 01, 02, 10, 11, 12), and for the long format room for a 7-digit
// namespace and at least one item digit.
func Parse(s string) (ID, error) { return parse(s) }

// ParseBytes is Parse for a byte slice (as read from a file), without
// converting it to a string first.
func ParseBytes(b []byte) (ID, error) { return parse(b) }

func parse[T string | []byte](s T) (ID, error) {
	bad := func(format string, args ...any) (ID, error) {
		return ID{}, &Error{Input: string(s), Reason: fmt.Sprintf(format, args...)}
	}
	if len(s) < 6 || len(s) > 18 {
		return bad("it must have 6 to 18 digits, not %d characters", len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return bad("character %d is not a digit", i+1)
		}
	}
	if s[0] == '0' {
		return bad("it must not start with 0")
	}
	if !valid(s) {
		return bad("the check digit is wrong (Verhoeff)")
	}
	n := len(s)
	p := string(s[n-3 : n-1])
	var id ID
	switch p[0] {
	case '0':
	case '1':
		id.Long = true
	default:
		return bad("partition %s is not 0x (short format) or 1x (long format)", p)
	}
	switch p[1] {
	case '0':
		id.Kind = Concept
	case '1':
		id.Kind = Description
	case '2':
		id.Kind = Relationship
	default:
		return bad("partition %s does not identify a concept, description or relationship", p)
	}
	if id.Long {
		// item (>= 1 digit) + namespace (7) + partition (2) + check (1)
		if n < 11 {
			return bad("a long-format (extension) id needs a 7-digit namespace and an item id: at least 11 digits")
		}
		id.Namespace = string(s[n-10 : n-3])
	}
	for i := 0; i < n; i++ { // 18 digits fit in a uint64
		id.Value = id.Value*10 + uint64(s[i]-'0')
	}
	return id, nil
}

// ParseConcept is Parse that also requires a concept partition (00 or 10).
func ParseConcept(s string) (ID, error) {
	id, err := Parse(s)
	if err != nil {
		return id, err
	}
	if id.Kind != Concept {
		return ID{}, &Error{Input: s, Reason: fmt.Sprintf("it is a %s id, not a concept id (partition %s)", id.Kind, s[len(s)-3:len(s)-1])}
	}
	return id, nil
}

// Verhoeff's dihedral group D5 multiplication table, permutation table and
// inverses.
var (
	vd = [10][10]uint8{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		{1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
		{2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
		{3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
		{4, 0, 1, 2, 3, 9, 5, 6, 7, 8},
		{5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
		{6, 5, 9, 8, 7, 1, 0, 4, 3, 2},
		{7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
		{8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
		{9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
	}
	vp = [8][10]uint8{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		{1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
		{5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
		{8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
		{9, 4, 5, 3, 1, 2, 6, 8, 7, 0},
		{4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
		{2, 7, 9, 3, 8, 0, 6, 4, 1, 5},
		{7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
	}
	vinv = [10]uint8{0, 4, 3, 2, 1, 5, 6, 7, 8, 9}
)

// Valid reports whether the digit string s ends with its Verhoeff check
// digit. It checks nothing else (see Parse); non-digits make it false.
func Valid(s string) bool { return valid(s) }

func valid[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	var c uint8
	for i := 0; i < len(s); i++ {
		d := s[len(s)-1-i]
		if d < '0' || d > '9' {
			return false
		}
		c = vd[c][vp[i%8][d-'0']]
	}
	return c == 0
}

// CheckDigit is the Verhoeff check digit to append to the digit string
// payload; it returns false when payload is empty or holds a non-digit.
func CheckDigit(payload string) (byte, bool) {
	if payload == "" {
		return 0, false
	}
	var c uint8
	for i := 0; i < len(payload); i++ {
		d := payload[len(payload)-1-i]
		if d < '0' || d > '9' {
			return 0, false
		}
		c = vd[c][vp[(i+1)%8][d-'0']]
	}
	return '0' + vinv[c], true
}

// Make builds a well-formed SCTID from an item identifier, a namespace
// ("" for the short format) and a kind. It is for generating test data:
// an identifier that Make returns is well formed, not a real concept.
func Make(item uint64, namespace string, kind Kind) (string, error) {
	if kind < Concept || kind > Relationship {
		return "", fmt.Errorf("sctid: unknown kind %d", kind)
	}
	s := strconv.FormatUint(item, 10)
	if namespace == "" {
		s += "0" + strconv.Itoa(int(kind))
	} else {
		if len(namespace) != 7 {
			return "", fmt.Errorf("sctid: namespace %q is not 7 digits", namespace)
		}
		s += namespace + "1" + strconv.Itoa(int(kind))
	}
	d, ok := CheckDigit(s)
	if !ok {
		return "", fmt.Errorf("sctid: %q is not a digit string", s)
	}
	s += string(d)
	if _, err := Parse(s); err != nil {
		return "", err
	}
	return s, nil
}

// Corruptions lists every string that differs from the digit string s by
// one digit or by swapping two adjacent different digits: the typing
// errors the check digit is designed to catch. It is for tests.
func Corruptions(s string) []string {
	var out []string
	b := []byte(s)
	for i := range b {
		orig := b[i]
		for d := byte('0'); d <= '9'; d++ {
			if d != orig {
				b[i] = d
				out = append(out, string(b))
			}
		}
		b[i] = orig
	}
	for i := 0; i+1 < len(b); i++ {
		if b[i] != b[i+1] {
			b[i], b[i+1] = b[i+1], b[i]
			out = append(out, string(b))
			b[i], b[i+1] = b[i+1], b[i]
		}
	}
	return out
}
