package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/signpost-fhir/signpost/fhir/search/internal/fhirpath"
)

// commonCodes are the parameters of every resource (base Resource) that have
// an expression; _content, _query, _text, _filter, _list and _has have none
// (they are not index lookups) and _has is parsed by ParseQuery itself.
var commonCodes = map[string]bool{
	"_id": true, "_lastUpdated": true, "_tag": true, "_profile": true, "_security": true, "_source": true,
}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	params := fs.String("params", "", "the official R4 search-parameters Bundle (JSON)")
	core := fs.String("core", "", "folder of the unpacked hl7.fhir.r4.core package")
	out := fs.String("out", "", "Go file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *params == "" || *core == "" || *out == "" {
		return errors.New("-params, -core and -out are required")
	}
	src, err := Generate(*params, *core)
	if err != nil {
		return err
	}
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, src, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}

// Generate returns the gofmt'd source of table_gen.go.
func Generate(paramsFile, coreDir string) ([]byte, error) {
	model, err := loadModel(coreDir)
	if err != nil {
		return nil, err
	}
	sps, err := loadParams(paramsFile)
	if err != nil {
		return nil, err
	}
	rows, choices, err := build(sps, model)
	if err != nil {
		return nil, err
	}
	return render(rows, choices, sorted(keys(model.resources)))
}

// searchParameter is the part of a SearchParameter the registry keeps.
type searchParameter struct {
	URL         string   `json:"url"`
	Code        string   `json:"code"`
	Base        []string `json:"base"`
	Type        string   `json:"type"`
	Expression  string   `json:"expression"`
	XPathUsage  string   `json:"xpathUsage"`
	Target      []string `json:"target"`
	Modifier    []string `json:"modifier"`
	Chain       []string `json:"chain"`
	Comparator  []string `json:"comparator"`
	MultipleOr  *bool    `json:"multipleOr"`
	MultipleAnd *bool    `json:"multipleAnd"`
	Component   []struct {
		Definition string `json:"definition"`
		Expression string `json:"expression"`
	} `json:"component"`
}

func loadParams(file string) ([]searchParameter, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var bundle struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &bundle); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var out []searchParameter
	for _, e := range bundle.Entry {
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if err := json.Unmarshal(e.Resource, &head); err != nil {
			return nil, err
		}
		if head.ResourceType != "SearchParameter" {
			continue
		}
		var sp searchParameter
		if err := json.Unmarshal(e.Resource, &sp); err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no SearchParameter", file)
	}
	return out, nil
}

// element is one element of the R4 model: its types and, for an element
// that repeats another's definition (Questionnaire.item.item), the path it
// refers to.
type element struct {
	types      []string
	contentRef string
}

// model maps element paths ("Task.restriction.period", "Period.start",
// "Observation.value[x]") to elements, and constrained type names
// (SimpleQuantity) to the type whose paths they use.
type model struct {
	elements map[string]element
	alias    map[string]string
	// resources are the concrete resource types of the package: the
	// registry holds the parameters of every one of them.
	resources map[string]bool
}

func loadModel(dir string) (*model, error) {
	files, err := filepath.Glob(filepath.Join(dir, "StructureDefinition-*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds no StructureDefinition", dir)
	}
	m := &model{elements: map[string]element{}, alias: map[string]string{}, resources: map[string]bool{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var sd struct {
			Kind       string `json:"kind"`
			Derivation string `json:"derivation"`
			Name       string `json:"name"`
			ID         string `json:"id"`
			Type       string `json:"type"`
			Abstract   bool   `json:"abstract"`
			Snapshot   struct {
				Element []struct {
					Path             string `json:"path"`
					ContentReference string `json:"contentReference"`
					Type             []struct {
						Code      string `json:"code"`
						Extension []struct {
							URL      string `json:"url"`
							ValueURL string `json:"valueUrl"`
						} `json:"extension"`
					} `json:"type"`
				} `json:"element"`
			} `json:"snapshot"`
		}
		if err := json.Unmarshal(data, &sd); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		switch sd.Kind {
		case "resource", "complex-type", "primitive-type":
		default:
			continue
		}
		if sd.Derivation == "constraint" {
			// Profiles of data types used as types in R4 (SimpleQuantity,
			// MoneyQuantity) walk like their base type.
			if sd.Kind == "complex-type" && sd.ID != sd.Type {
				m.alias[sd.ID] = sd.Type
			}
			continue
		}
		if sd.Kind == "resource" && !sd.Abstract {
			m.resources[sd.Type] = true
		}
		for _, e := range sd.Snapshot.Element {
			var el element
			el.contentRef = strings.TrimPrefix(e.ContentReference, "#")
			for _, t := range e.Type {
				code := t.Code
				if strings.HasPrefix(code, "http://hl7.org/fhirpath/System.") {
					// R4 types id, value and url elements with FHIRPath
					// System types and names the FHIR type in an extension.
					for _, x := range t.Extension {
						if x.URL == "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type" {
							code = x.ValueURL
						}
					}
				}
				el.types = append(el.types, code)
			}
			m.elements[e.Path] = el
		}
	}
	return m, nil
}

// tref is a static type on a path: the type name and the model path its
// children live under ("Period", or "Task.restriction" for a backbone
// element).
type tref struct {
	name string
	path string
}

// walker works out static types and records the choice elements passed.
type walker struct {
	m       *model
	base    string
	choices map[string]map[string]bool
}

func (w *walker) walk(n *fhirpath.Node, focus []tref) ([]tref, error) {
	switch n.Kind {
	case fhirpath.KindRoot:
		if n.Name != w.base && n.Name != "Resource" && n.Name != "DomainResource" {
			return nil, fmt.Errorf("path starts at %s, not %s", n.Name, w.base)
		}
		return []tref{{w.base, w.base}}, nil
	case fhirpath.KindThis:
		return focus, nil
	case fhirpath.KindMember:
		left, err := w.walk(n.Left, focus)
		if err != nil {
			return nil, err
		}
		var out []tref
		for _, t := range left {
			got, err := w.member(t, n.Name)
			if err != nil {
				return nil, err
			}
			out = append(out, got...)
		}
		return out, nil
	case fhirpath.KindFunc:
		left, err := w.walk(n.Left, focus)
		if err != nil {
			return nil, err
		}
		switch n.Name {
		case "where", "exists":
			for _, a := range n.Args {
				for _, t := range left {
					if _, err := w.walk(a, []tref{t}); err != nil {
						return nil, err
					}
				}
			}
			if n.Name == "exists" {
				return []tref{{"boolean", "boolean"}}, nil
			}
			return left, nil
		case "first":
			return left, nil
		case "empty", "not", "is":
			return []tref{{"boolean", "boolean"}}, nil
		case "resolve":
			return []tref{{"Resource", ""}}, nil
		case "ofType", "as":
			return w.narrow(left, n.Args[0].Literal)
		case "extension":
			return []tref{{"Extension", "Extension"}}, nil
		}
		return nil, fmt.Errorf("function %s() has no static type rule", n.Name)
	case fhirpath.KindIndex:
		return w.walk(n.Left, focus)
	case fhirpath.KindUnion:
		l, err := w.walk(n.Left, focus)
		if err != nil {
			return nil, err
		}
		r, err := w.walk(n.Right, focus)
		if err != nil {
			return nil, err
		}
		return append(l, r...), nil
	case fhirpath.KindAnd, fhirpath.KindOr, fhirpath.KindEqual, fhirpath.KindNotEqual:
		if _, err := w.walk(n.Left, focus); err != nil {
			return nil, err
		}
		if _, err := w.walk(n.Right, focus); err != nil {
			return nil, err
		}
		return []tref{{"boolean", "boolean"}}, nil
	case fhirpath.KindIs:
		if _, err := w.walk(n.Left, focus); err != nil {
			return nil, err
		}
		return []tref{{"boolean", "boolean"}}, nil
	case fhirpath.KindAs:
		left, err := w.walk(n.Left, focus)
		if err != nil {
			return nil, err
		}
		return w.narrow(left, n.Name)
	case fhirpath.KindString:
		return []tref{{"string", "string"}}, nil
	case fhirpath.KindBoolean:
		return []tref{{"boolean", "boolean"}}, nil
	case fhirpath.KindNumber:
		return []tref{{"decimal", "decimal"}}, nil
	case fhirpath.KindEmpty:
		return nil, nil
	}
	return nil, fmt.Errorf("node kind %d has no static type rule", n.Kind)
}

// narrow keeps the candidate a cast names. A cast no candidate can satisfy
// would always be empty, which means the expression was misread: that is
// an error at generation time.
func (w *walker) narrow(left []tref, name string) ([]tref, error) {
	for _, t := range left {
		if strings.EqualFold(t.name, name) {
			return []tref{t}, nil
		}
	}
	return nil, fmt.Errorf("no type on the path can be cast to %s", name)
}

func (w *walker) typePath(name string) string {
	if a, ok := w.m.alias[name]; ok {
		return a
	}
	return name
}

func (w *walker) member(t tref, name string) ([]tref, error) {
	if t.path == "" {
		return nil, fmt.Errorf("member %s of %s: unknown structure", name, t.name)
	}
	path := t.path + "." + name
	el, ok := w.m.elements[path]
	choice := false
	if !ok {
		el, ok = w.m.elements[path+"[x]"]
		choice = ok
	}
	if !ok {
		return nil, fmt.Errorf("%s has no element %s", t.path, name)
	}
	if el.contentRef != "" {
		if _, ok := w.m.elements[el.contentRef]; !ok {
			return nil, fmt.Errorf("%s refers to unknown %s", path, el.contentRef)
		}
		return []tref{{"BackboneElement", el.contentRef}}, nil
	}
	var out []tref
	for _, typ := range el.types {
		if choice {
			if w.choices[name] == nil {
				w.choices[name] = map[string]bool{}
			}
			w.choices[name][typ] = true
		}
		switch typ {
		case "BackboneElement", "Element":
			out = append(out, tref{typ, path})
		default:
			out = append(out, tref{typ, w.typePath(typ)})
		}
	}
	return out, nil
}

// row is one generated registry row: one parameter on one base type.
type row struct {
	code, base, typ, url, usage string
	parts                       []part
	targets, modifiers, chains  []string
	comparators                 []string
	// components of a composite parameter; none when one cannot be
	// served (see composite).
	components []component
	// noComposite says why a composite parameter has no components.
	noComposite string
}

type part struct {
	expr  string
	types []string
	focus []tref
}

// component is one component of a composite parameter: the code and type
// of the parameter it names, and its expression, relative to each value
// of the composite's own expression.
type component struct {
	code, typ, expr string
	types           []string
}

// componentTypes are the parameter types a composite's components may
// have for Signpost to serve it.
var componentTypes = map[string]bool{"token": true, "string": true, "date": true, "number": true, "quantity": true, "uri": true}

// composite works out the components of r (a composite parameter on
// r.base, its parts walked), or says why it cannot be served.
func (w *walker) composite(sp searchParameter, r *row, byURL map[string]searchParameter) ([]component, string) {
	if len(sp.Component) == 0 {
		return nil, "the definition has no components"
	}
	var out []component
	for _, c := range sp.Component {
		def, ok := byURL[c.Definition]
		if !ok {
			return nil, "component " + c.Definition + " is not in the package"
		}
		if !componentTypes[def.Type] {
			return nil, "a " + def.Type + " component (" + def.Code + ") is not supported"
		}
		n, err := fhirpath.Parse(c.Expression)
		if err != nil {
			return nil, "component " + def.Code + " has an expression the server cannot evaluate (" + c.Expression + ")"
		}
		set := map[string]bool{}
		for _, p := range r.parts {
			ts, err := w.walk(n, p.focus)
			if err != nil {
				return nil, "component " + def.Code + " has an expression the server cannot evaluate (" + c.Expression + ")"
			}
			for _, t := range ts {
				set[t.name] = true
			}
		}
		out = append(out, component{code: def.Code, typ: def.Type, expr: c.Expression, types: sorted(keys(set))})
	}
	return out, ""
}

func build(sps []searchParameter, m *model) ([]row, map[string][]string, error) {
	keep := m.resources
	w := &walker{m: m, choices: map[string]map[string]bool{}}
	byURL := map[string]searchParameter{}
	for _, sp := range sps {
		byURL[sp.URL] = sp
	}
	var rows []row
	for _, sp := range sps {
		var bases []string
		for _, b := range sp.Base {
			if keep[b] || (b == "Resource" && commonCodes[sp.Code]) {
				bases = append(bases, b)
			}
		}
		if len(bases) == 0 || sp.Expression == "" {
			continue
		}
		for _, b := range bases {
			w.base = b
			r := row{
				code: sp.Code, base: b, typ: sp.Type, url: sp.URL,
				targets: sorted(sp.Target), modifiers: sp.Modifier, chains: sp.Chain,
				comparators: sp.Comparator,
			}
			if sp.XPathUsage != "normal" {
				r.usage = sp.XPathUsage
			}
			for _, src := range splitUnion(sp.Expression) {
				if src != "" && src[0] >= 'a' && src[0] <= 'z' {
					// A few R4 expressions leave out their base
					// (InsurancePlan-name is "name | alias"): the
					// elements are the base's.
					src = b + "." + src
				}
				n, err := fhirpath.Parse(src)
				if err != nil {
					return nil, nil, fmt.Errorf("%s: %w", sp.URL, err)
				}
				if start(n) != b {
					continue
				}
				types, err := w.walk(n, nil)
				if err != nil {
					return nil, nil, fmt.Errorf("%s: %s: %w", sp.URL, src, err)
				}
				r.parts = append(r.parts, part{expr: src, types: typeNames(types), focus: types})
			}
			if len(r.parts) == 0 {
				return nil, nil, fmt.Errorf("%s: no part of %q starts at %s", sp.URL, sp.Expression, b)
			}
			if sp.Type == "composite" {
				r.components, r.noComposite = w.composite(sp, &r, byURL)
			}
			rows = append(rows, r)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].base != rows[j].base {
			return rows[i].base < rows[j].base
		}
		return rows[i].code < rows[j].code
	})
	for i := 1; i < len(rows); i++ {
		if rows[i].base == rows[i-1].base && rows[i].code == rows[i-1].code {
			return nil, nil, fmt.Errorf("%s has two parameters %s", rows[i].base, rows[i].code)
		}
	}
	choices := map[string][]string{}
	for name, set := range w.choices {
		choices[name] = sorted(keys(set))
	}
	return rows, choices, nil
}

// splitUnion splits an expression at its top-level | (outside parentheses
// and string literals). Each part of an R4 union names its own base type.
func splitUnion(expr string) []string {
	var parts []string
	depth, startAt := 0, 0
	inString := false
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '\'' {
				inString = false
			}
		case c == '\'':
			inString = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			parts = append(parts, strings.TrimSpace(expr[startAt:i]))
			startAt = i + 1
		}
	}
	return append(parts, strings.TrimSpace(expr[startAt:]))
}

// start is the type name a parsed part starts at.
func start(n *fhirpath.Node) string {
	for n != nil {
		if n.Kind == fhirpath.KindRoot {
			return n.Name
		}
		n = n.Left
	}
	return ""
}

func typeNames(ts []tref) []string {
	set := map[string]bool{}
	for _, t := range ts {
		set[t.name] = true
	}
	return sorted(keys(set))
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sorted(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func render(rows []row, choices map[string][]string, types []string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by fhir/search/internal/gen from the R4 SearchParameter Bundle and StructureDefinitions. DO NOT EDIT.\n\n")
	b.WriteString("package search\n\n")
	b.WriteString("// generatedTypes are the concrete resource types of R4: each has the\n// parameters of Resource besides its own.\n")
	fmt.Fprintf(&b, "var generatedTypes = %s\n\n", strList(types))
	// Long target lists (the "any resource" references of AuditEvent,
	// Provenance, Communication ...) are written once and shared.
	shared := map[string]string{}
	for _, r := range rows {
		if len(r.targets) > 16 {
			lit := strList(r.targets)
			if _, ok := shared[lit]; !ok {
				name := "targetList" + strconv.Itoa(len(shared))
				shared[lit] = name
				fmt.Fprintf(&b, "// %s is a target list shared by several parameters.\nvar %s = %s\n\n", name, name, lit)
			}
		}
	}
	b.WriteString("// generated holds one row per parameter and base type, sorted by base and code.\n")
	b.WriteString("var generated = [...]paramRow{\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "{code: %q, base: %q, typ: %q, url: %q,", r.code, r.base, r.typ, r.url)
		if r.usage != "" {
			fmt.Fprintf(&b, " usage: %q,", r.usage)
		}
		b.WriteString(" parts: []partRow{")
		for i, p := range r.parts {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "{%q, %s}", p.expr, strList(p.types))
		}
		b.WriteString("},")
		if len(r.components) > 0 {
			b.WriteString(" components: []componentRow{")
			for i, c := range r.components {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "{%q, %q, %q, %s}", c.code, c.typ, c.expr, strList(c.types))
			}
			b.WriteString("},")
		}
		if r.noComposite != "" {
			fmt.Fprintf(&b, " noComposite: %q,", r.noComposite)
		}
		for _, f := range []struct {
			name string
			list []string
		}{{"targets", r.targets}, {"modifiers", r.modifiers}, {"chains", r.chains}, {"comparators", r.comparators}} {
			if len(f.list) > 0 {
				lit := strList(f.list)
				if name, ok := shared[lit]; ok && f.name == "targets" {
					lit = name
				}
				fmt.Fprintf(&b, " %s: %s,", f.name, lit)
			}
		}
		b.WriteString("},\n")
	}
	b.WriteString("}\n\n")
	b.WriteString("// choiceTypes maps each element name that is a choice element on a path of\n")
	b.WriteString("// the registry to the FHIR types of its variants.\n")
	b.WriteString("var choiceTypes = map[string][]string{\n")
	names := make([]string, 0, len(choices))
	for n := range choices {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "%q: %s,\n", n, strList(choices[n]))
	}
	b.WriteString("}\n")
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("format generated source: %w", err)
	}
	return src, nil
}

func strList(s []string) string {
	q := make([]string, len(s))
	for i, e := range s {
		q[i] = strconv.Quote(e)
	}
	return "[]string{" + strings.Join(q, ", ") + "}"
}
