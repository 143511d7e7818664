package interaction

import (
	"strconv"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/spec"
)

// FHIRPath Patch (R4 "FHIRPath Patch" page) over the resource's JSON tree,
// for paths made of element names and [n] indexes. Element shapes come
// from the R4 definitions (fhir/spec): whether an added element repeats,
// which member a choice value takes (name "value" with valueString ->
// valueString).

type fhirPathOp struct {
	index int // the operation's position, for messages
	typ   string
	path  string
	name  string
	value any
	// valueType is the value[x] suffix ("String", "Coding"), "" for a
	// value built from parts.
	valueType           string
	hasValue            bool
	at, source, destine int
}

type fhirPathPatcher struct{ ops []fhirPathOp }

func patchError(format string, args ...any) error {
	return fhir.Errorf(fhir.CodeProcessing, format, args...)
}

func parseFHIRPathPatch(p *fhir.Parameters) (Patcher, error) {
	ops := p.All("operation")
	if len(ops) == 0 {
		return nil, fhir.Errorf(fhir.CodeInvalid, "a FHIRPath Patch needs at least one operation parameter")
	}
	out := fhirPathPatcher{}
	for i, op := range ops {
		o := fhirPathOp{index: i, at: -1, source: -1, destine: -1}
		parts, _ := op["part"].([]any)
		for _, raw := range parts {
			part, ok := raw.(map[string]any)
			if !ok {
				continue
			}
			name, _ := part["name"].(string)
			str := func() string {
				for k, v := range part {
					if strings.HasPrefix(k, "value") {
						if s, ok := v.(string); ok {
							return s
						}
					}
				}
				return ""
			}
			num := func() int {
				for k, v := range part {
					if strings.HasPrefix(k, "value") {
						if n, err := strconv.Atoi(strings.TrimSpace(jsonText(v))); err == nil {
							return n
						}
					}
				}
				return -1
			}
			switch name {
			case "type":
				o.typ = str()
			case "path":
				o.path = str()
			case "name":
				o.name = str()
			case "index":
				o.at = num()
			case "source":
				o.source = num()
			case "destination":
				o.destine = num()
			case "value":
				v, vt, err := partValue(part)
				if err != nil {
					return nil, err
				}
				o.value, o.valueType, o.hasValue = v, vt, true
			}
		}
		where := "Parameters.parameter[" + strconv.Itoa(i) + "]"
		bad := func(why string) error {
			return fhir.Errorf(fhir.CodeInvalid, "FHIRPath Patch operation %d: %s", i, why).At(where)
		}
		if o.path == "" {
			return nil, bad("no path")
		}
		switch o.typ {
		case "add":
			if o.name == "" || !o.hasValue {
				return nil, bad("add needs a name and a value")
			}
		case "insert":
			if o.at < 0 || !o.hasValue {
				return nil, bad("insert needs an index and a value")
			}
		case "delete":
		case "replace":
			if !o.hasValue {
				return nil, bad("replace needs a value")
			}
		case "move":
			if o.source < 0 || o.destine < 0 {
				return nil, bad("move needs a source and a destination")
			}
		default:
			return nil, bad("type must be add, insert, delete, replace or move, not " + strconv.Quote(o.typ))
		}
		if _, err := parsePath(o.path); err != nil {
			return nil, err
		}
		out.ops = append(out.ops, o)
	}
	return out, nil
}

// jsonText is a JSON number or string as text.
func jsonText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case interface{ String() string }:
		return x.String()
	}
	return ""
}

// partValue is the value of a "value" part: its value[x] with the type
// suffix, or the parts that make an object (for backbone elements),
// materialised once the target's structure is known.
func partValue(part map[string]any) (any, string, error) {
	for k, v := range part {
		if strings.HasPrefix(k, "value") && len(k) > len("value") {
			return v, k[len("value"):], nil
		}
	}
	sub, ok := part["part"].([]any)
	if !ok {
		return nil, "", fhir.Errorf(fhir.CodeInvalid, "a FHIRPath Patch value needs a value[x] or parts")
	}
	var items partsValue
	for _, raw := range sub {
		p, ok := raw.(map[string]any)
		if !ok {
			continue
		}
		name, _ := p["name"].(string)
		if name == "" {
			continue
		}
		v, vt, err := partValue(p)
		if err != nil {
			return nil, "", err
		}
		items = append(items, partItem{name: name, value: v, valueType: vt})
	}
	return items, "", nil
}

// partsValue is an object given as parts: names are element names, so a
// choice is "value" with a valueString, which materialize turns into the
// member valueString.
type partsValue []partItem

type partItem struct {
	name      string
	value     any
	valueType string
}

// materialize turns parts into the JSON object of a value of shape.
func materialize(v any, shape *spec.Structure) any {
	items, ok := v.(partsValue)
	if !ok {
		return v
	}
	obj := map[string]any{}
	for _, it := range items {
		key := it.name
		var m spec.Member
		found := false
		if shape != nil {
			if m, found = shape.Member(it.name); !found {
				if cm, ok := shape.Member(it.name + it.valueType); ok && cm.Element.Choice() {
					key, m, found = it.name+it.valueType, cm, true
				}
			}
		}
		var child *spec.Structure
		if found {
			child = shapeOf(m)
		}
		val := materialize(it.value, child)
		prev, dup := obj[key]
		switch {
		case dup:
			list, isList := prev.([]any)
			if !isList {
				list = []any{prev}
			}
			obj[key] = append(list, val)
		case found && m.Element.Repeats():
			obj[key] = []any{val}
		default:
			obj[key] = val
		}
	}
	return obj
}

// pathStep is one step of a patch path: an element name, optionally
// indexed.
type pathStep struct {
	name  string
	index int // -1: none
}

// parsePath reads "Type.a.b[0].c" (the leading type is optional).
func parsePath(path string) ([]pathStep, error) {
	var steps []pathStep
	for i, seg := range strings.Split(path, ".") {
		name, idx := seg, -1
		if open := strings.IndexByte(seg, '['); open >= 0 {
			if !strings.HasSuffix(seg, "]") {
				return nil, errPatchPath(path)
			}
			n, err := strconv.Atoi(seg[open+1 : len(seg)-1])
			if err != nil || n < 0 {
				return nil, errPatchPath(path)
			}
			name, idx = seg[:open], n
		}
		if !IsElementName(name) || strings.ContainsAny(name, "()") {
			return nil, errPatchPath(path)
		}
		if i == 0 && spec.IsResourceType(name) {
			if idx >= 0 {
				return nil, errPatchPath(path)
			}
			continue
		}
		steps = append(steps, pathStep{name: name, index: idx})
	}
	return steps, nil
}

// node is one element a path reached: the object holding it (parent),
// its member name, and its position when the member is an array.
type node struct {
	parent map[string]any
	member string
	index  int // -1: the member's value itself
	elem   *spec.Element
	// shape is the structure of the node's value when it is an object.
	shape *spec.Structure
}

func (n node) value() any {
	v := n.parent[n.member]
	if n.index >= 0 {
		return v.([]any)[n.index]
	}
	return v
}

// object is a JSON object with its structure.
type object struct {
	obj   map[string]any
	shape *spec.Structure
}

// shapeOf is the structure of element e's values (for member m).
func shapeOf(m spec.Member) *spec.Structure {
	if m.Element.Children != nil {
		return m.Element.Children
	}
	if m.Type != nil {
		return m.Type.Structure()
	}
	return nil
}

// memberFor finds the member of obj that carries element name (a choice
// by its base name: "value" -> "valueString").
func memberFor(o object, name string) (string, spec.Member, bool) {
	if o.shape == nil {
		return "", spec.Member{}, false
	}
	if m, ok := o.shape.Member(name); ok {
		return name, m, true
	}
	for k := range o.obj {
		if m, ok := o.shape.Member(k); ok && m.Element.Choice() && strings.TrimSuffix(m.Element.Name, "[x]") == name {
			return k, m, true
		}
	}
	return "", spec.Member{}, false
}

// eval walks steps from root and returns the nodes reached.
func eval(root object, steps []pathStep) []node {
	current := []object{root}
	var nodes []node
	for si, st := range steps {
		nodes = nodes[:0]
		for _, o := range current {
			key, m, ok := memberFor(o, st.name)
			if !ok {
				if _, present := o.obj[st.name]; !present {
					continue
				}
				key = st.name
			}
			v, present := o.obj[key]
			if !present {
				continue
			}
			if list, isList := v.([]any); isList {
				for i := range list {
					nodes = append(nodes, node{parent: o.obj, member: key, index: i, elem: m.Element, shape: shapeOf(m)})
				}
			} else {
				nodes = append(nodes, node{parent: o.obj, member: key, index: -1, elem: m.Element, shape: shapeOf(m)})
			}
		}
		if st.index >= 0 {
			if st.index >= len(nodes) {
				return nil
			}
			nodes = []node{nodes[st.index]}
		}
		if si == len(steps)-1 {
			break
		}
		current = current[:0]
		for _, n := range nodes {
			if obj, ok := n.value().(map[string]any); ok {
				current = append(current, object{obj: obj, shape: n.shape})
			}
		}
	}
	return nodes
}

func (p fhirPathPatcher) Patch(doc []byte) ([]byte, error) {
	v, err := fhir.DecodeJSON(doc)
	if err != nil {
		return nil, err
	}
	obj := v.(map[string]any)
	t, ok := spec.LookupType(jsonText(obj["resourceType"]))
	if !ok {
		return nil, patchError("unknown resource type")
	}
	root := object{obj: obj, shape: t.Structure()}
	for _, op := range p.ops {
		if err := op.apply(root); err != nil {
			return nil, err
		}
	}
	return fhir.EncodeJSON(obj)
}

func (op fhirPathOp) apply(root object) error {
	steps, err := parsePath(op.path)
	if err != nil {
		return err
	}
	fail := func(format string, args ...any) error {
		return patchError("FHIRPath Patch operation %d (%s %s): "+format, append([]any{op.index, op.typ, op.path}, args...)...)
	}
	switch op.typ {
	case "delete":
		nodes := eval(root, steps)
		switch len(nodes) {
		case 0:
			return nil // deleting nothing is not an error
		case 1:
			remove(nodes[0])
			return nil
		}
		return fail("the path matches %d elements; delete takes one", len(nodes))
	case "replace":
		nodes := eval(root, steps)
		if len(nodes) != 1 {
			return fail("the path matches %d elements; replace takes one", len(nodes))
		}
		n := nodes[0]
		val := materialize(op.value, n.shape)
		if n.index >= 0 {
			n.parent[n.member].([]any)[n.index] = val
		} else {
			n.parent[n.member] = val
		}
		return nil
	case "add":
		target, err := single(root, steps)
		if err != nil {
			return fail("%v", err)
		}
		key := op.name
		var elem *spec.Element
		var shape *spec.Structure
		if target.shape != nil {
			if m, ok := target.shape.Member(op.name); ok {
				elem, shape = m.Element, shapeOf(m)
			} else if m, ok := target.shape.Member(op.name + op.valueType); ok && m.Element.Choice() {
				key, elem, shape = op.name+op.valueType, m.Element, shapeOf(m)
			}
		}
		val := materialize(op.value, shape)
		cur, present := target.obj[key]
		switch {
		case elem != nil && elem.Repeats():
			list, _ := cur.([]any)
			target.obj[key] = append(list, val)
		case present:
			return fail("%s already has %s; use replace", op.path, key)
		default:
			target.obj[key] = val
		}
		return nil
	case "insert", "move":
		if len(steps) == 0 {
			return fail("the path must name a list")
		}
		parent, err := single(root, steps[:len(steps)-1])
		if err != nil {
			return fail("%v", err)
		}
		last := steps[len(steps)-1]
		key, m, ok := memberFor(parent, last.name)
		if !ok {
			key = last.name
		}
		list, _ := parent.obj[key].([]any)
		if op.typ == "insert" {
			if op.at > len(list) {
				return fail("index %d is beyond the list's %d items", op.at, len(list))
			}
			var shape *spec.Structure
			if ok {
				shape = shapeOf(m)
			}
			list = append(list, nil)
			copy(list[op.at+1:], list[op.at:])
			list[op.at] = materialize(op.value, shape)
			parent.obj[key] = list
			return nil
		}
		if op.source >= len(list) || op.destine >= len(list) {
			return fail("source %d or destination %d is beyond the list's %d items", op.source, op.destine, len(list))
		}
		item := list[op.source]
		list = append(list[:op.source], list[op.source+1:]...)
		list = append(list[:op.destine], append([]any{item}, list[op.destine:]...)...)
		parent.obj[key] = list
		return nil
	}
	return fail("unknown operation")
}

// single is the one object steps reach (the root for no steps).
func single(root object, steps []pathStep) (object, error) {
	if len(steps) == 0 {
		return root, nil
	}
	nodes := eval(root, steps)
	if len(nodes) != 1 {
		return object{}, errCount(len(nodes))
	}
	obj, ok := nodes[0].value().(map[string]any)
	if !ok {
		return object{}, errNotObject
	}
	return object{obj: obj, shape: nodes[0].shape}, nil
}

type patchPathError string

func (e patchPathError) Error() string { return string(e) }

const errNotObject = patchPathError("the path reaches a primitive, not an element that can hold others")

func errCount(n int) error {
	return patchPathError("the path matches " + strconv.Itoa(n) + " elements, not one")
}

// remove deletes a node: an array item (the member goes when it was the
// last) or a member with its primitive extension sibling.
func remove(n node) {
	if n.index < 0 {
		delete(n.parent, n.member)
		delete(n.parent, "_"+n.member)
		return
	}
	list := n.parent[n.member].([]any)
	list = append(list[:n.index], list[n.index+1:]...)
	if len(list) == 0 {
		delete(n.parent, n.member)
		return
	}
	n.parent[n.member] = list
}

// IsElementName reports whether s has the shape of an element name.
func IsElementName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
