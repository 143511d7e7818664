package fhir

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzUnescape: unescape makes of a JSON string's raw text exactly what
// encoding/json.Unmarshal makes of it, and refuses what it refuses.
func FuzzUnescape(f *testing.F) {
	for _, s := range []string{`a\"b`, `\\`, `\/`, `\b\f\n\r\t`, `\u00e9`, `\uD83D\uDE00`, `\u20AC x`, `\x`, `\u12`, `<div xmlns=\"http://www.w3.org/1999/xhtml\">\n</div>`, `\uD83D\u0041`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !utf8.ValidString(raw) || loneSurrogate([]byte(raw)) != "" {
			return
		}
		// What the parser hands over: no raw quote or control character,
		// no backslash escaping the closing quote.
		for i := 0; i < len(raw); i++ {
			switch c := raw[i]; {
			case c < 0x20 || c == '"':
				return
			case c == '\\':
				i++
			}
		}
		var want string
		werr := json.Unmarshal([]byte(`"`+raw+`"`), &want)
		got, ok := unescape([]byte(raw))
		if (werr == nil) != ok {
			t.Fatalf("%q: encoding/json says %v, unescape ok=%v", raw, werr, ok)
		}
		if ok && got != want {
			t.Fatalf("%q: unescape %q, encoding/json %q", raw, got, want)
		}
	})
}

// TestDecodeObject: an object decodes; another JSON value is a structure
// error, as malformed JSON is.
func TestDecodeObject(t *testing.T) {
	m, err := DecodeObject([]byte(`{"a":1}`))
	if err != nil || len(m) != 1 {
		t.Fatalf("an object: %v, %v", m, err)
	}
	for _, bad := range []string{`[1]`, `"x"`, `{`} {
		if _, err := DecodeObject([]byte(bad)); err == nil {
			t.Errorf("%s decoded as an object", bad)
		} else if fe, ok := AsError(err); !ok || fe.Code() != CodeStructure {
			t.Errorf("%s: %v, want a structure error", bad, err)
		}
	}
}
