package spec

// fastMatchers check the most frequent R4 primitive patterns without the
// regex engine: validation runs on every write, and a resource is mostly
// strings, codes, uris and ids. Each is keyed by the exact pattern the
// package publishes, so a package with a different pattern falls back to the
// compiled regex, and TestFastMatchersAgreeWithRegex holds each to its
// pattern. Regex semantics are Go's RE2: \s is [\t\n\f\r ] and \S anything
// else, any rune beyond ASCII included.
var fastMatchers = map[string]func(string) bool{
	// string, markdown: every character but form feed.
	`[ \r\n\t\S]+`: func(s string) bool {
		if s == "" {
			return false
		}
		for i := 0; i < len(s); i++ {
			if s[i] == '\f' {
				return false
			}
		}
		return true
	},
	// uri, url, canonical: no whitespace.
	`\S*`: func(s string) bool {
		for i := 0; i < len(s); i++ {
			if isSpace(s[i]) {
				return false
			}
		}
		return true
	},
	// code: words separated by single whitespace characters.
	`[^\s]+(\s[^\s]+)*`: func(s string) bool {
		if s == "" || isSpace(s[0]) || isSpace(s[len(s)-1]) {
			return false
		}
		for i := 1; i < len(s); i++ {
			if isSpace(s[i]) && isSpace(s[i-1]) {
				return false
			}
		}
		return true
	},
	// id
	`[A-Za-z0-9\-\.]{1,64}`: func(s string) bool {
		if len(s) == 0 || len(s) > 64 {
			return false
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
				return false
			}
		}
		return true
	},
}

// isSpace is RE2's \s. Bytes of multi-byte UTF-8 sequences are never ASCII,
// so scanning bytes sees the same spaces as scanning runes.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}
