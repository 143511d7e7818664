package fhir

import "bytes"

// Member returns the raw JSON of the top-level member key of the object
// data, without decoding the rest: the members before it are skipped and
// those after it are not read. A stored body puts resourceType, id and
// meta first, so reading its meta costs a few dozen bytes whatever the
// resource's size. ok is false when data is not an object with that
// member, or is malformed up to it.
func Member(data []byte, key string) (raw []byte, ok bool) {
	p := &parser{data: data}
	p.skipSpace()
	if p.pos >= len(data) || data[p.pos] != '{' {
		return nil, false
	}
	p.pos++
	for {
		p.skipSpace()
		if p.pos >= len(data) || data[p.pos] != '"' {
			return nil, false
		}
		start := p.pos
		if !p.skipString() {
			return nil, false
		}
		name := data[start+1 : p.pos-1]
		p.skipSpace()
		if p.pos >= len(data) || data[p.pos] != ':' {
			return nil, false
		}
		p.pos++
		p.skipSpace()
		vstart := p.pos
		if !p.skipValue(0) {
			return nil, false
		}
		// Keys with escapes are compared decoded.
		if string(name) == key || bytes.IndexByte(name, '\\') >= 0 && decodedKey(data[start:vstart]) == key {
			return data[vstart:p.pos], true
		}
		p.skipSpace()
		if p.pos >= len(data) || data[p.pos] != ',' {
			return nil, false
		}
		p.pos++
	}
}

// decodedKey decodes a quoted key followed by spaces and a colon.
func decodedKey(b []byte) string {
	p := &parser{data: b}
	s, err := p.str()
	if err != nil {
		return ""
	}
	return s
}

// skipString moves past the string at p.pos (its opening quote).
func (p *parser) skipString() bool {
	p.pos++
	for p.pos < len(p.data) {
		switch c := p.data[p.pos]; {
		case c == '"':
			p.pos++
			return true
		case c == '\\':
			p.pos += 2
		default:
			p.pos++
		}
	}
	return false
}

// skipValue moves past the value at p.pos.
func (p *parser) skipValue(depth int) bool {
	if depth > maxDepth || p.pos >= len(p.data) {
		return false
	}
	switch p.data[p.pos] {
	case '"':
		return p.skipString()
	case '{', '[':
		close := byte('}')
		if p.data[p.pos] == '[' {
			close = ']'
		}
		p.pos++
		for {
			p.skipSpace()
			if p.pos >= len(p.data) {
				return false
			}
			switch p.data[p.pos] {
			case close:
				p.pos++
				return true
			case ',', ':':
				p.pos++
				continue
			}
			if !p.skipValue(depth + 1) {
				return false
			}
		}
	}
	// A number or a literal: up to the next delimiter.
	start := p.pos
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return p.pos > start
		}
		p.pos++
	}
	return p.pos > start
}
