package fhirpath

import (
	"fmt"
	"strings"
)

// Kind is the kind of an expression node.
type Kind uint8

const (
	KindRoot     Kind = iota + 1 // the leading type name: Task, Resource, DomainResource
	KindThis                     // $this, or an expression that starts with a member name
	KindMember                   // Left.Name
	KindFunc                     // Left.Name(Args...)
	KindIndex                    // Left[Args[0]]
	KindUnion                    // Left | Right
	KindAnd                      // Left and Right
	KindOr                       // Left or Right
	KindEqual                    // Left = Right
	KindNotEqual                 // Left != Right
	KindIs                       // Left is Name
	KindAs                       // Left as Name
	KindString                   // 'literal'
	KindBoolean                  // true, false
	KindNumber                   // 42, 1.5
	KindEmpty                    // {}
)

// Node is one node of a parsed expression. The tree is exported so the
// registry generator can walk it to work out static result types.
type Node struct {
	Kind  Kind
	Left  *Node
	Right *Node
	Args  []*Node
	// Name is the member, function or type name; for KindRoot the type
	// name as written.
	Name string
	// Literal holds the text of a string or number literal, "true" or
	// "false".
	Literal string

	// candidates are the JSON member names a member step reads: Name
	// itself, then one per choice variant (valueQuantity, valueString ...)
	// when Name is a choice element; types holds the FHIR type of each
	// variant (same index, "" for Name itself). Filled by Compile.
	candidates []string
	types      []string
	// chain is set on a member node whose left side is only member steps
	// down to the root or $this: those steps, first to last, evaluated
	// depth first without a collection per step.
	chain []*Node
}

// functions are the supported functions and their argument counts.
var functions = map[string][2]int{ // name -> {min, max} arguments
	"where":     {1, 1},
	"exists":    {0, 1},
	"empty":     {0, 0},
	"not":       {0, 0},
	"first":     {0, 0},
	"resolve":   {0, 0},
	"ofType":    {1, 1},
	"as":        {1, 1},
	"is":        {1, 1},
	"extension": {1, 1},
}

// Parse parses src into a tree. It accepts the FHIRPath subset described in
// the package doc and rejects everything else, so an expression it accepts is
// one Eval understands.
func Parse(src string) (*Node, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, src: src}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	if p.peek().kind != tokEOF {
		return nil, p.errorf("unexpected %q", p.peek().text)
	}
	return n, nil
}

type parser struct {
	toks []token
	pos  int
	src  string
}

func (p *parser) peek() token { return p.toks[p.pos] }

// next consumes a token; the final EOF is never consumed, so peek and
// next stay in range after an error in the input.
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("fhirpath %q at offset %d: %s", p.src, p.peek().pos, fmt.Sprintf(format, args...))
}

func (p *parser) isWord(w string) bool {
	t := p.peek()
	return t.kind == tokIdent && t.text == w
}

// Precedence, loosest first, as in FHIRPath N1 §"Operator precedence":
// or, and, equality, union, type (is/as), invocation.
func (p *parser) expr() (*Node, error) { return p.or() }

func (p *parser) or() (*Node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isWord("or") {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &Node{Kind: KindOr, Left: l, Right: r}
	}
	return l, nil
}

func (p *parser) and() (*Node, error) {
	l, err := p.equality()
	if err != nil {
		return nil, err
	}
	for p.isWord("and") {
		p.next()
		r, err := p.equality()
		if err != nil {
			return nil, err
		}
		l = &Node{Kind: KindAnd, Left: l, Right: r}
	}
	return l, nil
}

func (p *parser) equality() (*Node, error) {
	l, err := p.union()
	if err != nil {
		return nil, err
	}
	for {
		var k Kind
		switch t := p.peek(); {
		case t.kind == tokSymbol && t.text == "=":
			k = KindEqual
		case t.kind == tokSymbol && t.text == "!=":
			k = KindNotEqual
		default:
			return l, nil
		}
		p.next()
		r, err := p.union()
		if err != nil {
			return nil, err
		}
		l = &Node{Kind: k, Left: l, Right: r}
	}
}

func (p *parser) union() (*Node, error) {
	l, err := p.typeExpr()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.kind == tokSymbol && t.text == "|"; t = p.peek() {
		p.next()
		r, err := p.typeExpr()
		if err != nil {
			return nil, err
		}
		l = &Node{Kind: KindUnion, Left: l, Right: r}
	}
	return l, nil
}

func (p *parser) typeExpr() (*Node, error) {
	l, err := p.invocation()
	if err != nil {
		return nil, err
	}
	for p.isWord("is") || p.isWord("as") {
		k := KindIs
		if p.next().text == "as" {
			k = KindAs
		}
		name, err := p.typeName()
		if err != nil {
			return nil, err
		}
		l = &Node{Kind: k, Left: l, Name: name}
	}
	return l, nil
}

// typeName reads a type specifier; a namespace (FHIR., System.) is dropped:
// the subset only meets FHIR types.
func (p *parser) typeName() (string, error) {
	t := p.next()
	if t.kind != tokIdent {
		return "", p.errorf("expected a type name")
	}
	name := t.text
	for p.peek().kind == tokSymbol && p.peek().text == "." {
		p.next()
		t = p.next()
		if t.kind != tokIdent {
			return "", p.errorf("expected a type name")
		}
		name = t.text
	}
	return name, nil
}

func (p *parser) invocation() (*Node, error) {
	n, err := p.term()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case t.kind == tokSymbol && t.text == ".":
			p.next()
			if n, err = p.step(n); err != nil {
				return nil, err
			}
		case t.kind == tokSymbol && t.text == "[":
			p.next()
			idx, err := p.expr()
			if err != nil {
				return nil, err
			}
			if t := p.next(); t.kind != tokSymbol || t.text != "]" {
				return nil, p.errorf("expected ']'")
			}
			n = &Node{Kind: KindIndex, Left: n, Args: []*Node{idx}}
		default:
			return n, nil
		}
	}
}

// step reads a member name or a function call applied to left.
func (p *parser) step(left *Node) (*Node, error) {
	t := p.next()
	if t.kind != tokIdent {
		return nil, p.errorf("expected a name after '.'")
	}
	if !(p.peek().kind == tokSymbol && p.peek().text == "(") {
		return &Node{Kind: KindMember, Left: left, Name: t.text}, nil
	}
	p.next() // (
	arity, ok := functions[t.text]
	if !ok {
		return nil, p.errorf("function %s() is not supported", t.text)
	}
	n := &Node{Kind: KindFunc, Left: left, Name: t.text}
	if !(p.peek().kind == tokSymbol && p.peek().text == ")") {
		for {
			var arg *Node
			var err error
			if t.text == "ofType" || t.text == "as" || t.text == "is" {
				var name string
				name, err = p.typeName()
				arg = &Node{Kind: KindString, Literal: name}
			} else {
				arg, err = p.expr()
			}
			if err != nil {
				return nil, err
			}
			n.Args = append(n.Args, arg)
			if !(p.peek().kind == tokSymbol && p.peek().text == ",") {
				break
			}
			p.next()
		}
	}
	if t := p.next(); t.kind != tokSymbol || t.text != ")" {
		return nil, p.errorf("expected ')'")
	}
	if len(n.Args) < arity[0] || len(n.Args) > arity[1] {
		return nil, p.errorf("%s() takes %d to %d arguments", n.Name, arity[0], arity[1])
	}
	return n, nil
}

func (p *parser) term() (*Node, error) {
	t := p.next()
	switch t.kind {
	case tokString:
		return &Node{Kind: KindString, Literal: t.text}, nil
	case tokNumber:
		return &Node{Kind: KindNumber, Literal: t.text}, nil
	case tokSymbol:
		switch t.text {
		case "(":
			n, err := p.expr()
			if err != nil {
				return nil, err
			}
			if t := p.next(); t.kind != tokSymbol || t.text != ")" {
				return nil, p.errorf("expected ')'")
			}
			return n, nil
		case "{":
			if t := p.next(); t.kind != tokSymbol || t.text != "}" {
				return nil, p.errorf("expected '}'")
			}
			return &Node{Kind: KindEmpty}, nil
		case "$this":
			return &Node{Kind: KindThis}, nil
		}
	case tokIdent:
		switch t.text {
		case "true", "false":
			return &Node{Kind: KindBoolean, Literal: t.text}, nil
		}
		if p.peek().kind == tokSymbol && p.peek().text == "(" {
			// A function called on the focus: resolve(), exists() ...
			p.pos--
			return p.step(&Node{Kind: KindThis})
		}
		if isTypeName(t.text) {
			return &Node{Kind: KindRoot, Name: t.text}, nil
		}
		return &Node{Kind: KindMember, Left: &Node{Kind: KindThis}, Name: t.text}, nil
	}
	return nil, p.errorf("unexpected %q", t.text)
}

// isTypeName reports whether an identifier at the start of a path names a
// type (Task.status) rather than a member of the focus (system = 'email'):
// FHIR type names of resources start with a capital letter, element names
// never do.
func isTypeName(s string) bool { return s != "" && s[0] >= 'A' && s[0] <= 'Z' }

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokNumber
	tokSymbol
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isLetter(c) || c == '_':
			j := i + 1
			for j < len(src) && (isLetter(src[j]) || isDigit(src[j]) || src[j] == '_') {
				j++
			}
			toks = append(toks, token{tokIdent, src[i:j], i})
			i = j
		case c == '`':
			j := strings.IndexByte(src[i+1:], '`')
			if j < 0 {
				return nil, fmt.Errorf("fhirpath %q: unterminated `identifier`", src)
			}
			toks = append(toks, token{tokIdent, src[i+1 : i+1+j], i})
			i += j + 2
		case isDigit(c):
			j := i + 1
			for j < len(src) && (isDigit(src[j]) || (src[j] == '.' && j+1 < len(src) && isDigit(src[j+1]))) {
				j++
			}
			toks = append(toks, token{tokNumber, src[i:j], i})
			i = j
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(src) && src[j] != '\''; j++ {
				if src[j] == '\\' && j+1 < len(src) {
					j++
					switch src[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					default: // \' \\ \" \/ \`
						b.WriteByte(src[j])
					}
					continue
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, fmt.Errorf("fhirpath %q: unterminated string", src)
			}
			toks = append(toks, token{tokString, b.String(), i})
			i = j + 1
		case c == '$':
			if strings.HasPrefix(src[i:], "$this") {
				toks = append(toks, token{tokSymbol, "$this", i})
				i += 5
				continue
			}
			return nil, fmt.Errorf("fhirpath %q: only $this is supported", src)
		case c == '!' && i+1 < len(src) && src[i+1] == '=':
			toks = append(toks, token{tokSymbol, "!=", i})
			i += 2
		case strings.IndexByte(".()[]{}|,=", c) >= 0:
			toks = append(toks, token{tokSymbol, string(c), i})
			i++
		default:
			return nil, fmt.Errorf("fhirpath %q: character %q at offset %d is not supported", src, c, i)
		}
	}
	return append(toks, token{tokEOF, "", len(src)}), nil
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
