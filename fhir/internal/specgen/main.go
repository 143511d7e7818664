package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/signpost-fhir/signpost/fhir/internal/specfile"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "specgen:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("specgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := fs.String("src", "", "folder of the unpacked hl7.fhir.r4.core package")
	out := fs.String("out", "", "gzipped JSON file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *src == "" || *out == "" {
		return errors.New("both -src and -out are required")
	}
	data, err := generate(*src)
	if err != nil {
		return err
	}
	// Write beside the target and rename, so an interrupted run never
	// leaves a truncated file for go:embed to pick up.
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, *out)
}

// generate reads the package in src and returns the gzipped spec file.
func generate(src string) ([]byte, error) {
	pkg, err := readPackage(src)
	if err != nil {
		return nil, err
	}
	file, err := build(pkg)
	if err != nil {
		return nil, err
	}
	return encode(file)
}

// encode writes f as compact JSON inside a gzip stream whose header has no
// name and no time, so equal input gives equal bytes.
func encode(f *specfile.File) ([]byte, error) {
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(js.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return gz.Bytes(), nil
}

// The parts of the package's resources specgen reads.
type (
	structureDefinition struct {
		URL            string `json:"url"`
		Name           string `json:"name"`
		Type           string `json:"type"`
		Kind           string `json:"kind"`
		Abstract       bool   `json:"abstract"`
		Derivation     string `json:"derivation"`
		BaseDefinition string `json:"baseDefinition"`
		Snapshot       struct {
			Element []elementDefinition `json:"element"`
		} `json:"snapshot"`
	}
	elementDefinition struct {
		Path             string `json:"path"`
		Min              int    `json:"min"`
		Max              string `json:"max"`
		MaxLength        int    `json:"maxLength"`
		IsSummary        bool   `json:"isSummary"`
		ContentReference string `json:"contentReference"`
		Type             []struct {
			Code          string      `json:"code"`
			Extension     []extension `json:"extension"`
			TargetProfile []string    `json:"targetProfile"`
		} `json:"type"`
		Binding *struct {
			Strength string `json:"strength"`
			ValueSet string `json:"valueSet"`
		} `json:"binding"`
	}
	extension struct {
		URL         string `json:"url"`
		ValueURL    string `json:"valueUrl"`
		ValueString string `json:"valueString"`
	}
	valueSet struct {
		URL     string `json:"url"`
		Compose *struct {
			Include []include `json:"include"`
			Exclude []include `json:"exclude"`
		} `json:"compose"`
	}
	include struct {
		System  string `json:"system"`
		Concept []struct {
			Code string `json:"code"`
		} `json:"concept"`
		Filter []struct {
			Property string `json:"property"`
			Op       string `json:"op"`
			Value    string `json:"value"`
		} `json:"filter"`
		ValueSet []string `json:"valueSet"`
	}
	codeSystem struct {
		URL     string    `json:"url"`
		Content string    `json:"content"`
		Concept []concept `json:"concept"`
	}
	concept struct {
		Code    string    `json:"code"`
		Concept []concept `json:"concept"`
	}
)

type pkg struct {
	version     string
	structures  []*structureDefinition // in file name order
	valueSets   map[string]*valueSet
	codeSystems map[string]*codeSystem
}

func readPackage(src string) (*pkg, error) {
	p := &pkg{valueSets: map[string]*valueSet{}, codeSystems: map[string]*codeSystem{}}
	var manifest struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := readJSON(filepath.Join(src, "package.json"), &manifest); err != nil {
		return nil, err
	}
	p.version = manifest.Name + "#" + manifest.Version
	entries, err := os.ReadDir(src) // sorted by name
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || name == "package.json" {
			continue
		}
		path := filepath.Join(src, name)
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		switch head.ResourceType {
		case "StructureDefinition":
			sd := new(structureDefinition)
			if err := json.Unmarshal(raw, sd); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			p.structures = append(p.structures, sd)
		case "ValueSet":
			vs := new(valueSet)
			if err := json.Unmarshal(raw, vs); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			p.valueSets[vs.URL] = vs
		case "CodeSystem":
			cs := new(codeSystem)
			if err := json.Unmarshal(raw, cs); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			p.codeSystems[cs.URL] = cs
		}
	}
	if len(p.structures) == 0 {
		return nil, fmt.Errorf("%s holds no StructureDefinition", src)
	}
	return p, nil
}

func readJSON(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

const (
	regexExtension    = "http://hl7.org/fhir/StructureDefinition/regex"
	fhirTypeExtension = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
	systemTypePrefix  = "http://hl7.org/fhirpath/System."
	sdPrefix          = "http://hl7.org/fhir/StructureDefinition/"
)

func build(p *pkg) (*specfile.File, error) {
	f := &specfile.File{Package: p.version, FHIRVersion: strings.TrimPrefix(p.version, "hl7.fhir.r4.core#")}
	required := map[string]bool{}
	for _, sd := range p.structures {
		if sd.Derivation == "constraint" {
			continue // a profile, not a base type
		}
		switch sd.Kind {
		case specfile.KindPrimitive, specfile.KindComplex, specfile.KindResource:
		default:
			continue // logical models describe no wire format
		}
		t := specfile.Type{
			Name:     sd.Type,
			Kind:     sd.Kind,
			Abstract: sd.Abstract,
			Base:     strings.TrimPrefix(sd.BaseDefinition, sdPrefix),
		}
		if sd.Kind == specfile.KindPrimitive {
			if err := primitiveValue(sd, &t); err != nil {
				return nil, err
			}
			f.Types = append(f.Types, t)
			continue
		}
		for _, ed := range sd.Snapshot.Element {
			if !strings.Contains(ed.Path, ".") {
				continue // the root says nothing a validator needs
			}
			e := specfile.Element{Path: ed.Path, Min: ed.Min, Max: ed.Max, ContentReference: ed.ContentReference, Summary: ed.IsSummary}
			for _, ty := range ed.Type {
				code, err := typeCode(sd, ed.Path, ty.Code, ty.Extension)
				if err != nil {
					return nil, err
				}
				e.Types = append(e.Types, specfile.TypeRef{Code: code, TargetProfile: ty.TargetProfile})
			}
			if b := ed.Binding; b != nil && b.Strength == "required" && b.ValueSet != "" {
				e.Binding = unversioned(b.ValueSet)
				required[e.Binding] = true
			}
			t.Elements = append(t.Elements, e)
		}
		f.Types = append(f.Types, t)
	}
	sort.Slice(f.Types, func(i, j int) bool { return f.Types[i].Name < f.Types[j].Name })
	for i := 1; i < len(f.Types); i++ {
		if f.Types[i].Name == f.Types[i-1].Name {
			return nil, fmt.Errorf("type %s is defined twice", f.Types[i].Name)
		}
	}

	urls := make([]string, 0, len(required))
	for u := range required {
		urls = append(urls, u)
	}
	sort.Strings(urls)
	x := expander{pkg: p, active: map[string]bool{}}
	for _, u := range urls {
		codes, reason := x.valueSet(u)
		vs := specfile.ValueSet{URL: u, Unchecked: reason}
		if reason == "" {
			vs.Systems = codes.sorted()
		}
		f.ValueSets = append(f.ValueSets, vs)
	}
	return f, nil
}

// primitiveValue copies the regex and maxLength of a primitive's value
// element into t.
func primitiveValue(sd *structureDefinition, t *specfile.Type) error {
	for _, ed := range sd.Snapshot.Element {
		if ed.Path != sd.Type+".value" {
			continue
		}
		t.MaxLength = ed.MaxLength
		for _, ty := range ed.Type {
			for _, ext := range ty.Extension {
				if ext.URL == regexExtension {
					t.Regex = ext.ValueString
				}
			}
		}
		return nil
	}
	return fmt.Errorf("primitive %s has no value element", sd.Type)
}

// typeCode is the FHIR type of an element. The snapshot types element ids
// and Extension.url as FHIRPath System types and gives the FHIR type in an
// extension.
func typeCode(sd *structureDefinition, path, code string, exts []extension) (string, error) {
	if !strings.HasPrefix(code, systemTypePrefix) {
		return code, nil
	}
	// The published R4 spec (resource pages, JSON and XML schemas) types
	// Resource.id as id, but the 4.0.1 snapshots carry the fhir-type
	// "string" there; use id so a resource's id is checked as one.
	if sd.Kind == specfile.KindResource && path == sd.Type+".id" {
		return "id", nil
	}
	for _, ext := range exts {
		if ext.URL == fhirTypeExtension && ext.ValueURL != "" {
			return ext.ValueURL, nil
		}
	}
	return "", fmt.Errorf("%s: type %s has no %s extension", path, code, fhirTypeExtension)
}

func unversioned(canonical string) string {
	if i := strings.IndexByte(canonical, '|'); i >= 0 {
		return canonical[:i]
	}
	return canonical
}

// codeSet is an expansion: system -> code -> present.
type codeSet map[string]map[string]bool

func (s codeSet) add(system, code string) {
	m := s[system]
	if m == nil {
		m = map[string]bool{}
		s[system] = m
	}
	m[code] = true
}

func (s codeSet) union(o codeSet) {
	for sys, codes := range o {
		for c := range codes {
			s.add(sys, c)
		}
	}
}

func (s codeSet) subtract(o codeSet) {
	for sys, codes := range o {
		for c := range codes {
			delete(s[sys], c)
		}
		if len(s[sys]) == 0 {
			delete(s, sys)
		}
	}
}

func (s codeSet) intersect(o codeSet) codeSet {
	out := codeSet{}
	for sys, codes := range s {
		for c := range codes {
			if o[sys][c] {
				out.add(sys, c)
			}
		}
	}
	return out
}

func (s codeSet) sorted() []specfile.SystemCodes {
	out := make([]specfile.SystemCodes, 0, len(s))
	for sys, codes := range s {
		sc := specfile.SystemCodes{System: sys, Codes: make([]string, 0, len(codes))}
		for c := range codes {
			sc.Codes = append(sc.Codes, c)
		}
		sort.Strings(sc.Codes)
		out = append(out, sc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].System < out[j].System })
	return out
}

// expander expands ValueSets from the package alone: no terminology server.
type expander struct {
	pkg    *pkg
	active map[string]bool // ValueSets being expanded, to stop import cycles
}

// valueSet expands url; a non-empty reason says why it cannot be.
func (x *expander) valueSet(url string) (codeSet, string) {
	vs, ok := x.pkg.valueSets[url]
	if !ok {
		return nil, fmt.Sprintf("ValueSet %s is not in the package", url)
	}
	if vs.Compose == nil {
		return nil, fmt.Sprintf("ValueSet %s has no compose", url)
	}
	if x.active[url] {
		return nil, fmt.Sprintf("ValueSet %s imports itself", url)
	}
	x.active[url] = true
	defer delete(x.active, url)
	out := codeSet{}
	for _, inc := range vs.Compose.Include {
		s, reason := x.include(inc)
		if reason != "" {
			return nil, reason
		}
		out.union(s)
	}
	for _, exc := range vs.Compose.Exclude {
		s, reason := x.include(exc)
		if reason != "" {
			return nil, "exclude: " + reason
		}
		out.subtract(s)
	}
	if len(out) == 0 {
		return nil, fmt.Sprintf("ValueSet %s expands to no code", url)
	}
	return out, ""
}

// include expands one compose.include (or exclude). Its parts intersect:
// the system's codes (all, listed or filtered) and every imported ValueSet.
func (x *expander) include(inc include) (codeSet, string) {
	var out codeSet
	if inc.System != "" {
		out = codeSet{}
		switch {
		case len(inc.Concept) > 0:
			// A listed concept needs no CodeSystem: the ValueSet names it.
			for _, c := range inc.Concept {
				out.add(inc.System, c.Code)
			}
		default:
			cs, ok := x.pkg.codeSystems[inc.System]
			if !ok {
				return nil, fmt.Sprintf("code system %s is not in the package", inc.System)
			}
			if cs.Content != "complete" {
				return nil, fmt.Sprintf("code system %s is only %q in the package", inc.System, cs.Content)
			}
			codes, reason := filtered(cs, inc)
			if reason != "" {
				return nil, reason
			}
			for _, c := range codes {
				out.add(inc.System, c)
			}
		}
	}
	for _, imp := range inc.ValueSet {
		s, reason := x.valueSet(unversioned(imp))
		if reason != "" {
			return nil, reason
		}
		if out == nil {
			out = s
		} else {
			out = out.intersect(s)
		}
	}
	if out == nil {
		return nil, "an include names neither a system nor a ValueSet"
	}
	return out, ""
}

// filtered returns the codes of cs that pass every filter of inc. Only the
// hierarchy filters (is-a, descendent-of on property concept) over the
// nesting of concepts are supported.
func filtered(cs *codeSystem, inc include) ([]string, string) {
	var all []string
	var walk func([]concept)
	walk = func(cc []concept) {
		for _, c := range cc {
			all = append(all, c.Code)
			walk(c.Concept)
		}
	}
	walk(cs.Concept)
	for _, flt := range inc.Filter {
		if flt.Property != "concept" || (flt.Op != "is-a" && flt.Op != "descendent-of") {
			return nil, fmt.Sprintf("filter %s %s %s on %s is not supported", flt.Property, flt.Op, flt.Value, cs.URL)
		}
		root := find(cs.Concept, flt.Value)
		if root == nil {
			return nil, fmt.Sprintf("filter value %s is not a concept of %s", flt.Value, cs.URL)
		}
		keep := map[string]bool{}
		if flt.Op == "is-a" {
			keep[root.Code] = true
		}
		var under func([]concept)
		under = func(cc []concept) {
			for _, c := range cc {
				keep[c.Code] = true
				under(c.Concept)
			}
		}
		under(root.Concept)
		next := all[:0:0]
		for _, c := range all {
			if keep[c] {
				next = append(next, c)
			}
		}
		all = next
	}
	return all, ""
}

func find(cc []concept, code string) *concept {
	for i := range cc {
		if cc[i].Code == code {
			return &cc[i]
		}
		if c := find(cc[i].Concept, code); c != nil {
			return c
		}
	}
	return nil
}
