package fhirpath

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
)

// Item is one value of a collection: a node of the resource's JSON tree
// (map[string]any, string, json.Number, bool) and its FHIR type when known.
// The type is known for choice variants (valueQuantity is a Quantity), after
// as/ofType, for resolve() results (the reference's target type) and for
// booleans computed by the expression; elsewhere it is "" and the caller
// supplies the static type of the path.
type Item struct {
	Value any
	Type  string
}

// Expr is a compiled expression, safe for concurrent use.
type Expr struct {
	root *Node
	src  string
}

// String is the expression's source text.
func (e *Expr) String() string { return e.src }

// Tree is the parsed expression.
func (e *Expr) Tree() *Node { return e.root }

// Compile parses src and prepares its member steps. choices maps an element
// name that is a choice element somewhere on the expression's paths (value,
// effective, onset ...) to the FHIR types of its variants; a member step
// with that name reads the variant members (valueQuantity, valueString ...)
// in that order, so no member name is built or scanned per evaluation.
func Compile(src string, choices map[string][]string) (*Expr, error) {
	n, err := Parse(src)
	if err != nil {
		return nil, err
	}
	prepare(n, choices)
	return &Expr{root: n, src: src}, nil
}

func prepare(n *Node, choices map[string][]string) {
	if n == nil {
		return
	}
	if n.Kind == KindMember {
		var steps []*Node
		m := n
		for m.Kind == KindMember {
			steps = append(steps, m)
			m = m.Left
		}
		if m.Kind == KindRoot || m.Kind == KindThis {
			for i, j := 0, len(steps)-1; i < j; i, j = i+1, j-1 {
				steps[i], steps[j] = steps[j], steps[i]
			}
			n.chain = steps
		}
	}
	if n.Kind == KindMember {
		n.candidates = []string{n.Name}
		n.types = []string{""}
		for _, t := range choices[n.Name] {
			n.candidates = append(n.candidates, n.Name+upperFirst(t))
			n.types = append(n.types, t)
		}
	}
	prepare(n.Left, choices)
	prepare(n.Right, choices)
	for _, a := range n.Args {
		prepare(a, choices)
	}
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// Eval evaluates the expression on a resource (its JSON object and type).
// Evaluation never fails: a construct that does not apply to the data (a
// comparison between different types, resolve() on a contained reference)
// yields an empty collection, as FHIRPath does for missing data.
func (e *Expr) Eval(resource map[string]any, resourceType string) []Item {
	return e.AppendEval(nil, resource, resourceType)
}

// AppendEval is Eval appending to out, so a caller evaluating many
// expressions can reuse one buffer.
func (e *Expr) AppendEval(out []Item, resource map[string]any, resourceType string) []Item {
	c := evalCtx{root: Item{Value: resource, Type: resourceType}}
	if e.root.Kind == KindMember && e.root.chain != nil {
		switch e.root.chain[0].Left.Kind {
		case KindRoot:
			return c.eval(e.root, nil, out) // the common case: a plain path
		case KindThis:
			return descend(e.root.chain, c.root, out) // a relative one (composite components)
		}
	}
	c.focus[0] = c.root
	return c.eval(e.root, c.focus[:], out)
}

type evalCtx struct {
	root  Item
	focus [1]Item
}

// eval appends the value of n with the given focus to out.
func (c *evalCtx) eval(n *Node, focus []Item, out []Item) []Item {
	switch n.Kind {
	case KindRoot:
		if c.rootMatches(n.Name) {
			return append(out, c.root)
		}
		return out
	case KindThis:
		return append(out, focus...)
	case KindMember:
		if n.chain != nil {
			start := n.chain[0].Left
			if start.Kind == KindRoot {
				if !c.rootMatches(start.Name) {
					return out
				}
				return descend(n.chain, c.root, out)
			}
			for _, it := range focus {
				out = descend(n.chain, it, out)
			}
			return out
		}
		for _, it := range c.eval(n.Left, focus, nil) {
			out = member(n, it, out)
		}
		return out
	case KindFunc:
		if n.Name == "as" || n.Name == "ofType" {
			// Filtered in place: no collection for the left side.
			start := len(out)
			out = c.eval(n.Left, focus, out)
			return narrowed(out, start, n.Args[0].Literal)
		}
		return c.call(n, c.eval(n.Left, focus, nil), out)
	case KindIndex:
		items := c.eval(n.Left, focus, nil)
		idx := c.eval(n.Args[0], focus, nil)
		if len(idx) != 1 {
			return out
		}
		i, ok := integer(idx[0].Value)
		if !ok || i < 0 || i >= len(items) {
			return out
		}
		return append(out, items[i])
	case KindUnion:
		out = c.eval(n.Left, focus, out)
		return c.eval(n.Right, focus, out)
	case KindAnd, KindOr:
		l, lok := singletonBool(c.eval(n.Left, focus, nil))
		r, rok := singletonBool(c.eval(n.Right, focus, nil))
		if n.Kind == KindAnd {
			switch {
			case (lok && !l) || (rok && !r):
				return append(out, boolean(false))
			case lok && rok:
				return append(out, boolean(true))
			}
			return out
		}
		switch {
		case (lok && l) || (rok && r):
			return append(out, boolean(true))
		case lok && rok:
			return append(out, boolean(false))
		}
		return out
	case KindEqual, KindNotEqual:
		l := c.eval(n.Left, focus, nil)
		r := c.eval(n.Right, focus, nil)
		if len(l) != 1 || len(r) != 1 {
			return out // FHIRPath: empty operand, empty result
		}
		eq := equal(l[0].Value, r[0].Value)
		return append(out, boolean(eq == (n.Kind == KindEqual)))
	case KindIs:
		items := c.eval(n.Left, focus, nil)
		if len(items) != 1 {
			return out
		}
		return append(out, boolean(isType(items[0], n.Name)))
	case KindAs:
		start := len(out)
		out = c.eval(n.Left, focus, out)
		return narrowed(out, start, n.Name)
	case KindString:
		return append(out, Item{Value: n.Literal, Type: "string"})
	case KindBoolean:
		return append(out, boolean(n.Literal == "true"))
	case KindNumber:
		return append(out, Item{Value: json.Number(n.Literal), Type: "decimal"})
	case KindEmpty:
		return out
	}
	return out
}

// narrowed keeps, of out[start:], the items of type name, retyped.
func narrowed(out []Item, start int, name string) []Item {
	keep := out[:start]
	for _, it := range out[start:] {
		if isType(it, name) {
			keep = append(keep, retype(it, name))
		}
	}
	return keep
}

func (c *evalCtx) rootMatches(name string) bool {
	return name == c.root.Type || name == "Resource" || name == "DomainResource"
}

// descend appends the values of a chain of member steps on one item, depth
// first.
func descend(chain []*Node, it Item, out []Item) []Item {
	n := chain[0]
	obj, ok := it.Value.(map[string]any)
	if !ok {
		return out
	}
	last := len(chain) == 1
	for i, key := range n.candidates {
		v, ok := obj[key]
		if !ok {
			continue
		}
		typ := n.types[i]
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				if e == nil {
					continue
				}
				if last {
					out = append(out, Item{Value: e, Type: typ})
				} else {
					out = descend(chain[1:], Item{Value: e, Type: typ}, out)
				}
			}
		case nil:
		default:
			if last {
				out = append(out, Item{Value: x, Type: typ})
			} else {
				out = descend(chain[1:], Item{Value: x, Type: typ}, out)
			}
		}
		if i == 0 {
			return out
		}
	}
	return out
}

// member appends the values of one member step on one item. Arrays are
// flattened; nulls (placeholders beside primitive extensions) are skipped.
func member(n *Node, it Item, out []Item) []Item {
	obj, ok := it.Value.(map[string]any)
	if !ok {
		return out
	}
	for i, key := range n.candidates {
		v, ok := obj[key]
		if !ok {
			continue
		}
		typ := n.types[i]
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				if e != nil {
					out = append(out, Item{Value: e, Type: typ})
				}
			}
		case nil:
		default:
			out = append(out, Item{Value: x, Type: typ})
		}
		if i == 0 {
			// The element itself is present, so it is not a choice here.
			return out
		}
	}
	return out
}

func (c *evalCtx) call(n *Node, items []Item, out []Item) []Item {
	switch n.Name {
	case "where":
		for _, it := range items {
			if b, ok := singletonBool(c.eval(n.Args[0], []Item{it}, nil)); ok && b {
				out = append(out, it)
			}
		}
		return out
	case "exists":
		if len(n.Args) == 1 {
			for _, it := range items {
				if b, ok := singletonBool(c.eval(n.Args[0], []Item{it}, nil)); ok && b {
					return append(out, boolean(true))
				}
			}
			return append(out, boolean(false))
		}
		return append(out, boolean(len(items) > 0))
	case "empty":
		return append(out, boolean(len(items) == 0))
	case "not":
		if b, ok := singletonBool(items); ok {
			return append(out, boolean(!b))
		}
		return out
	case "first":
		if len(items) > 0 {
			return append(out, items[0])
		}
		return out
	case "resolve":
		for _, it := range items {
			if t := ReferenceType(it.Value); t != "" {
				out = append(out, Item{Value: it.Value, Type: t})
			}
		}
		return out
	case "ofType", "as":
		name := n.Args[0].Literal
		for _, it := range items {
			if isType(it, name) {
				out = append(out, retype(it, name))
			}
		}
		return out
	case "is":
		if len(items) != 1 {
			return out
		}
		return append(out, boolean(isType(items[0], n.Args[0].Literal)))
	case "extension":
		url := c.eval(n.Args[0], items, nil)
		if len(url) != 1 {
			return out
		}
		want, _ := url[0].Value.(string)
		for _, it := range items {
			obj, _ := it.Value.(map[string]any)
			exts, _ := obj["extension"].([]any)
			for _, e := range exts {
				if m, ok := e.(map[string]any); ok && m["url"] == want {
					out = append(out, Item{Value: m, Type: "Extension"})
				}
			}
		}
		return out
	}
	return out
}

// ReferenceType is the resource type a Reference (or a reference string)
// points at, as far as the reference itself says: the type segment of a
// relative or absolute literal reference, else Reference.type. Contained
// (#id), urn:uuid: and identifier-only references without a type give "".
// This is what resolve() is T can tell without reading the target.
func ReferenceType(v any) string {
	switch x := v.(type) {
	case map[string]any:
		if s, ok := x["reference"].(string); ok {
			if t := referenceStringType(s); t != "" {
				return t
			}
		}
		t, _ := x["type"].(string)
		return t
	case string:
		return referenceStringType(x)
	}
	return ""
}

// referenceStringType finds Type in "Type/id", "[base]/Type/id" and their
// "/_history/v" forms.
func referenceStringType(s string) string {
	if strings.HasPrefix(s, "#") || strings.HasPrefix(s, "urn:") {
		return ""
	}
	if i := strings.Index(s, "/_history/"); i >= 0 {
		s = s[:i]
	}
	j := strings.LastIndexByte(s, '/')
	if j <= 0 {
		return ""
	}
	typ := s[:j]
	if k := strings.LastIndexByte(typ, '/'); k >= 0 {
		typ = typ[k+1:]
	}
	if !isTypeName(typ) {
		return ""
	}
	return typ
}

// quantityKinds are the R4 types that are Quantity by derivation or
// profile, so "as Quantity" keeps valueAge, valueDuration ...
var quantityKinds = map[string]bool{
	"Quantity": true, "Age": true, "Count": true, "Distance": true, "Duration": true,
	"SimpleQuantity": true, "MoneyQuantity": true,
}

// primitiveNames are the FHIR primitive type names; used to tell whether an
// untyped JSON value can be of a type by its shape alone.
var primitiveNames = map[string]bool{
	"base64Binary": true, "boolean": true, "canonical": true, "code": true, "date": true,
	"dateTime": true, "decimal": true, "id": true, "instant": true, "integer": true,
	"markdown": true, "oid": true, "positiveInt": true, "string": true, "time": true,
	"unsignedInt": true, "uri": true, "url": true, "uuid": true,
}

// isType is FHIRPath's is. With a known item type it compares names
// (Quantity also covers its specialisations; a FHIRPath System type name
// such as String matches the FHIR primitive string). An untyped item (an
// element that is not a choice) can only be judged by shape: an object
// for a complex type, a JSON primitive for a primitive type. The R4
// expressions only apply as/is to choice elements and resolve() results,
// which are always typed.
func isType(it Item, name string) bool {
	if it.Type != "" {
		if it.Type == name || strings.EqualFold(it.Type, name) && primitiveNames[it.Type] {
			return true
		}
		return name == "Quantity" && quantityKinds[it.Type]
	}
	_, isObj := it.Value.(map[string]any)
	if primitiveNames[name] || primitiveNames[lowerFirst(name)] {
		return !isObj
	}
	return isObj
}

// retype records the type an as/ofType narrowed to, unless the item already
// has a more specific one (an Age stays an Age after "as Quantity").
func retype(it Item, name string) Item {
	if it.Type == "" {
		if primitiveNames[lowerFirst(name)] {
			name = lowerFirst(name)
		}
		it.Type = name
	}
	return it
}

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]-'A'+'a') + s[1:]
}

func boolean(b bool) Item { return Item{Value: b, Type: "boolean"} }

func singletonBool(items []Item) (value, ok bool) {
	if len(items) != 1 {
		return false, false
	}
	b, ok := items[0].Value.(bool)
	return b, ok
}

// equal is FHIRPath = on two primitive values; values of different kinds
// are not equal. Numbers compare by value (1.0 = 1), not by text.
func equal(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		rx, ok1 := new(big.Rat).SetString(string(x))
		ry, ok2 := new(big.Rat).SetString(string(y))
		return ok1 && ok2 && rx.Cmp(ry) == 0
	}
	return false
}

func integer(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(string(n))
	return i, err == nil
}
