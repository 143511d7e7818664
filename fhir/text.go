package fhir

import (
	"fmt"
	"unicode/utf8"
)

// CheckText reports why s cannot be a FHIR string, or nil when it can. R4
// strings are Unicode and "SHALL NOT contain Unicode character points
// below 32, except for u0009 (horizontal tab), u0010 (carriage return)
// and u0013 (line feed)". Every client value is held to it — each string
// of a body (the JSON decoder) and each search value — so none reaches a
// store: PostgreSQL cannot hold U+0000 or invalid UTF-8 in text at all,
// and SQLite would keep them as sent.
func CheckText(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return fmt.Errorf("it contains U+%04X, a control character FHIR strings may not hold (only tab, line feed and carriage return are allowed)", c)
		}
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("it is not valid UTF-8")
	}
	return nil
}
