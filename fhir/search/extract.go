package search

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search/internal/fhirpath"
)

// Index is every search index row of one resource version, one slice per
// parameter type, meant for one SQL table per type keyed by the resource
// (type, id) and Param. Rows come in parameter-code order and, within a
// parameter, in document order without duplicates.
//
// A resource has a value for a parameter exactly when it has at least one
// row with that Param in any slice, which is what :missing tests.
type Index struct {
	Tokens     []Token
	Strings    []String
	References []Reference
	Dates      []Date
	Numbers    []Number
	Quantities []Quantity
	URIs       []URI

	// codesOnly: token rows without the text :text searches (composites).
	codesOnly bool
}

// Token is one token value.
//
// Sources: a Coding gives (system, code) and Text = its display; a
// CodeableConcept gives one row per coding and, when it has a text, a row
// with only Text (System and Code empty: that row serves :text alone); an
// Identifier gives (system, value) with Text = type.text and, per coding of
// its type, TypeSystem/TypeCode for :of-type; a ContactPoint gives (system,
// value), its system being phone, email ...; a boolean gives Code "true" or
// "false"; a code, string, id or uri gives Code alone (the code system of a
// bound code is not recorded: search those with a bare code or |code does
// not match them).
type Token struct {
	Param  string
	System string
	Code   string
	// Text is NormalizeString of the display or text, for :text.
	Text       string
	TypeSystem string
	TypeCode   string
}

// String is one string value. HumanName gives a row per family, given,
// prefix, suffix and text; Address per line, city, district, state,
// postalCode, country and text.
type String struct {
	Param string
	// Value is NormalizeString of the value, cut to MaxIndexedString bytes
	// (at a rune boundary) so it fits a B-tree index; the default search is
	// a starts-with on it, :contains a substring test.
	Value string
	// Exact is the value as written, for :exact.
	Exact string
}

// MaxIndexedString bounds String.Value. PostgreSQL refuses B-tree entries
// over about 2.7 kB and long markdown descriptions are searchable by their
// beginning anyway; ParseQuery cuts search values the same way.
const MaxIndexedString = 512

// Reference is one reference value. A literal reference gives one row with
// URL (the reference as written) and, when it has the shape
// [Base/]Type/ID[/_history/Version], Type, ID, Version and Base (empty for
// a relative reference; for an absolute one the store decides whether
// Base is this server). A logical reference (Reference.identifier) gives a
// separate row with IdentifierSystem and IdentifierValue, for :identifier,
// and Type from Reference.type. A canonical gives URL and Version (the part
// after '|'); a uri gives URL. Contained references (#id) are not indexed.
type Reference struct {
	Param            string
	Type             string
	ID               string
	Version          string
	Base             string
	URL              string
	IdentifierSystem string
	IdentifierValue  string
}

// Date is a date value as the closed range of instants it covers (see
// DateRange); Period gives [start.Low, end.High] with MinTime/MaxTime for an
// open end, Timing the outer limits of its events and repeat.boundsPeriod.
type Date struct {
	Param string
	Low   time.Time
	High  time.Time
}

// Number is a number value with the range its precision implies (see
// DecimalRange).
type Number struct {
	Param string
	Value Decimal
	Low   Decimal
	High  Decimal
}

// Quantity is a quantity value (Quantity and its kinds Age, Duration ...;
// Money with System urn:iso:std:iso:4217 and Code the currency). A Range
// gives Low from low.value and High from high.value, with Value empty and
// unbounded Decimals for a missing end; units come from low, else high.
type Quantity struct {
	Param  string
	Value  Decimal
	Low    Decimal
	High   Decimal
	System string
	Code   string
	Unit   string
}

// URI is one uri, url, canonical, oid or uuid value as written; :below and
// :above are prefix matches the store makes on it.
type URI struct {
	Param string
	Value string
}

// Extract computes the index rows of a resource for every supported
// parameter of its type (none for a type the registry does not hold),
// _id and _lastUpdated included: a store that answers those from columns of
// its resource table may drop their rows. Call it after the resource is
// stamped, so _lastUpdated has its value. Contained resources are not
// indexed. It runs on every write: expressions are compiled once, plain
// paths are walked without intermediate collections, and it reads the
// JSON tree without copying it.
func Extract(r *fhir.Resource) Index {
	typ := r.Type()
	obj := r.Object()
	reg := theRegistry()
	// Most parameters give at most a row or two; sizing the slices from
	// the type's parameter counts avoids growing them row by row.
	c := reg.counts[typ]
	ix := Index{
		Tokens:     make([]Token, 0, c[TypeToken]+4),
		Strings:    make([]String, 0, c[TypeString]),
		References: make([]Reference, 0, c[TypeReference]),
		Dates:      make([]Date, 0, c[TypeDate]),
		Quantities: make([]Quantity, 0, c[TypeQuantity]),
		URIs:       make([]URI, 0, c[TypeURI]),
	}
	var buf, inner []fhirpath.Item
	for _, d := range reg.sorted[typ] {
		if !d.Supported {
			continue
		}
		if d.Components != nil {
			ix.addComposite(d, obj, typ, &buf, &inner)
			continue
		}
		mark := ix.marks()
		for _, p := range d.parts {
			buf = p.expr.AppendEval(buf[:0], obj, typ)
			for _, it := range buf {
				t := it.Type
				if t == "" {
					t = p.staticType
				}
				ix.add(d, t, it.Value)
			}
		}
		ix.dedupe(mark)
	}
	return ix
}

func (ix *Index) add(d *Definition, typ string, v any) { ix.addAs(d.Code, d.Type, typ, v) }

func (ix *Index) addAs(code string, pt ParamType, typ string, v any) {
	switch pt {
	case TypeToken:
		ix.addToken(code, typ, v)
	case TypeString:
		ix.addString(code, typ, v)
	case TypeReference:
		ix.addReference(code, typ, v)
	case TypeDate:
		ix.addDate(code, typ, v)
	case TypeNumber:
		if n, ok := v.(json.Number); ok {
			if val, lo, hi, err := DecimalRange(string(n)); err == nil {
				ix.Numbers = append(ix.Numbers, Number{Param: code, Value: val, Low: lo, High: hi})
			}
		}
	case TypeQuantity:
		ix.addQuantity(code, typ, v)
	case TypeURI:
		if s, ok := v.(string); ok && s != "" {
			ix.URIs = append(ix.URIs, URI{Param: code, Value: s})
		}
	}
}

// CompositeSeparator joins a composite parameter's code and the number of
// the value its rows come from (InstanceParam).
const CompositeSeparator = "$"

// InstanceParam is the Param of the rows of the n-th value of composite
// parameter code: "component-code-value-quantity$1". The rows of one
// value (one Observation.component ...) share it, so a store matches
// every component of a search value on rows with the same Param; no
// parameter code holds a '$', so these never meet a plain parameter's.
func InstanceParam(code string, n int) string {
	return code + CompositeSeparator + strconv.Itoa(n)
}

// instanceParam is InstanceParam(d.Code, n), without an allocation for
// the first values.
func (d *Definition) instanceParam(n int) string {
	if n < len(d.instanceParams) {
		return d.instanceParams[n]
	}
	return InstanceParam(d.Code, n)
}

// addComposite adds the rows of composite parameter d: for each value of
// its expression that gives every component a value, each component's
// rows under InstanceParam(d.Code, n), n counting those values from 0.
func (ix *Index) addComposite(d *Definition, obj map[string]any, typ string, buf, scratch *[]fhirpath.Item) {
	n := 0
	inner := *scratch
	ix.codesOnly = true // a composite's token components take no :text
	defer func() { *scratch, ix.codesOnly = inner, false }()
	for _, p := range d.parts {
		*buf = p.expr.AppendEval((*buf)[:0], obj, typ)
		for _, it := range *buf {
			inst, ok := it.Value.(map[string]any)
			if !ok {
				continue
			}
			itype := it.Type
			if itype == "" {
				itype = p.staticType
			}
			mark := ix.marks()
			param := ""
			complete := true
			for _, c := range d.Components {
				inner = c.expr.AppendEval(inner[:0], inst, itype)
				before := ix.Len()
				for _, v := range inner {
					t := v.Type
					if t == "" {
						t = c.staticType
					}
					if param == "" {
						param = d.instanceParam(n)
					}
					ix.addAs(param, c.Def.Type, t, v.Value)
				}
				if ix.Len() == before {
					complete = false
					break
				}
			}
			if !complete {
				ix.truncate(mark)
				continue
			}
			ix.dedupe(mark)
			n++
		}
	}
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func (ix *Index) addToken(param, typ string, v any) {
	switch x := v.(type) {
	case bool:
		code := "false"
		if x {
			code = "true"
		}
		ix.Tokens = append(ix.Tokens, Token{Param: param, Code: code})
	case string:
		if x != "" {
			ix.Tokens = append(ix.Tokens, Token{Param: param, Code: x})
		}
	case map[string]any:
		switch typ {
		case "CodeableConcept":
			for _, c := range objects(x["coding"]) {
				ix.addCoding(param, c)
			}
			if t := str(x, "text"); t != "" && !ix.codesOnly {
				ix.Tokens = append(ix.Tokens, Token{Param: param, Text: NormalizeString(t)})
			}
		case "Coding":
			ix.addCoding(param, x)
		case "Identifier":
			row := Token{Param: param, System: str(x, "system"), Code: str(x, "value")}
			if row.System == "" && row.Code == "" {
				return
			}
			t, _ := x["type"].(map[string]any)
			if tt := str(t, "text"); tt != "" {
				row.Text = NormalizeString(tt)
			}
			typed := false
			for _, c := range objects(t["coding"]) {
				r := row
				r.TypeSystem, r.TypeCode = str(c, "system"), str(c, "code")
				if r.TypeCode != "" {
					ix.Tokens = append(ix.Tokens, r)
					typed = true
				}
			}
			if !typed {
				ix.Tokens = append(ix.Tokens, row)
			}
		case "ContactPoint":
			if val := str(x, "value"); val != "" {
				ix.Tokens = append(ix.Tokens, Token{Param: param, System: str(x, "system"), Code: val})
			}
		}
	}
}

func (ix *Index) addCoding(param string, c map[string]any) {
	row := Token{Param: param, System: str(c, "system"), Code: str(c, "code")}
	if d := str(c, "display"); d != "" && !ix.codesOnly {
		row.Text = NormalizeString(d)
	}
	if row.System != "" || row.Code != "" || row.Text != "" {
		ix.Tokens = append(ix.Tokens, row)
	}
}

// objects returns the JSON objects of an element that may repeat.
func objects(v any) []map[string]any {
	switch x := v.(type) {
	case map[string]any:
		return []map[string]any{x}
	case []any:
		out := make([]map[string]any, 0, len(x))
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

var (
	humanNameParts = []string{"family", "given", "prefix", "suffix", "text"}
	addressParts   = []string{"line", "city", "district", "state", "postalCode", "country", "text"}
)

func (ix *Index) addString(param, typ string, v any) {
	switch x := v.(type) {
	case string:
		if param == "family" {
			ix.addFamily(param, x)
			return
		}
		ix.addStringValue(param, x)
	case map[string]any:
		var parts []string
		switch typ {
		case "HumanName":
			parts = humanNameParts
		case "Address":
			parts = addressParts
		default:
			return
		}
		for _, p := range parts {
			switch e := x[p].(type) {
			case string:
				if p == "family" {
					ix.addFamily(param, e)
					continue
				}
				ix.addStringValue(param, e)
			case []any:
				for _, s := range e {
					if s, ok := s.(string); ok {
						ix.addStringValue(param, s)
					}
				}
			}
		}
	}
}

// addFamily indexes a family name, and each of its parts on its own: R4
// (3.1.1.4.8) asks servers to search the parts of a family name
// independently ("Quinones" finds "Carreno Quinones"). The parts carry no
// exact text, so :exact still compares the whole name.
func (ix *Index) addFamily(param, s string) {
	ix.addStringValue(param, s)
	if parts := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '-' }); len(parts) > 1 {
		for _, part := range parts {
			ix.Strings = append(ix.Strings, String{Param: param, Value: cutString(NormalizeString(part))})
		}
	}
}

func (ix *Index) addStringValue(param, s string) {
	if s == "" {
		return
	}
	ix.Strings = append(ix.Strings, String{Param: param, Value: cutString(NormalizeString(s)), Exact: s})
}

// cutString cuts s to MaxIndexedString bytes at a rune boundary.
func cutString(s string) string {
	if len(s) <= MaxIndexedString {
		return s
	}
	i := MaxIndexedString
	for i > 0 && s[i]&0xC0 == 0x80 { // inside a UTF-8 sequence
		i--
	}
	return s[:i]
}

func (ix *Index) addReference(param, typ string, v any) {
	switch x := v.(type) {
	case string: // canonical, uri
		if x == "" {
			return
		}
		row := Reference{Param: param, URL: x}
		if typ == "canonical" {
			if u, ver, ok := strings.Cut(x, "|"); ok {
				row.URL, row.Version = u, ver
			}
		}
		ix.References = append(ix.References, row)
	case map[string]any:
		if typ != "Reference" {
			return // Attachment (Consent.source) and the like
		}
		if ref := str(x, "reference"); strings.HasPrefix(ref, "#") {
			// A reference to a contained resource is a reference (R4
			// 3.1.1.5.5): it makes the parameter present for :missing. It
			// has no type or id, so it matches no Type/id search value.
			if len(ref) > 1 {
				ix.References = append(ix.References, Reference{Param: param, URL: ref})
			}
		} else if ref != "" {
			row := Reference{Param: param, URL: ref}
			row.Base, row.Type, row.ID, row.Version = SplitReference(ref)
			ix.References = append(ix.References, row)
		}
		if id, ok := x["identifier"].(map[string]any); ok {
			row := Reference{Param: param, IdentifierSystem: str(id, "system"), IdentifierValue: str(id, "value")}
			if row.IdentifierValue != "" {
				row.Type = str(x, "type")
				if t := referenceTypeOf(x); t != "" {
					row.Type = t
				}
				ix.References = append(ix.References, row)
			}
		}
	}
}

func referenceTypeOf(ref map[string]any) string {
	_, t, _, _ := SplitReference(str(ref, "reference"))
	return t
}

// SplitReference reads a literal reference of the form
// [base/]Type/id[/_history/version]. Base is "" for a relative reference.
// A reference of another form (urn:uuid:..., #contained, a URL that does
// not end in Type/id) gives empty strings.
func SplitReference(ref string) (base, typ, id, version string) {
	if ref == "" || ref[0] == '#' || strings.HasPrefix(ref, "urn:") {
		return "", "", "", ""
	}
	s := ref
	if i := strings.Index(s, "/_history/"); i >= 0 {
		version = s[i+len("/_history/"):]
		s = s[:i]
		if version == "" || strings.Contains(version, "/") {
			return "", "", "", ""
		}
	}
	j := strings.LastIndexByte(s, '/')
	if j <= 0 {
		return "", "", "", ""
	}
	id = s[j+1:]
	rest := s[:j]
	k := strings.LastIndexByte(rest, '/')
	typ = rest[k+1:]
	if k >= 0 {
		base = rest[:k]
	}
	if !isResourceTypeName(typ) || !validID(id) || (k >= 0 && base == "") {
		return "", "", "", ""
	}
	return base, typ, id, version
}

// validID is fhir.ValidID without its regexp: it runs for every reference
// of every write.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// isResourceTypeName is the shape of a resource type name: a capital letter
// then letters.
func isResourceTypeName(s string) bool {
	if len(s) < 2 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func (ix *Index) addDate(param, typ string, v any) {
	switch x := v.(type) {
	case string:
		if lo, hi, err := DateRange(x); err == nil {
			ix.Dates = append(ix.Dates, Date{Param: param, Low: lo, High: hi})
		}
	case map[string]any:
		switch typ {
		case "Period":
			if lo, hi, ok := periodRange(x); ok {
				ix.Dates = append(ix.Dates, Date{Param: param, Low: lo, High: hi})
			}
		case "Timing":
			if lo, hi, ok := timingRange(x); ok {
				ix.Dates = append(ix.Dates, Date{Param: param, Low: lo, High: hi})
			}
		}
	}
}

// periodRange is [start, end] with open ends at MinTime/MaxTime; a Period
// with neither is not a value.
func periodRange(p map[string]any) (lo, hi time.Time, ok bool) {
	lo, hi = MinTime, MaxTime
	s, e := str(p, "start"), str(p, "end")
	if s == "" && e == "" {
		return lo, hi, false
	}
	if s != "" {
		l, _, err := DateRange(s)
		if err != nil {
			return lo, hi, false
		}
		lo = l
	}
	if e != "" {
		_, h, err := DateRange(e)
		if err != nil {
			return lo, hi, false
		}
		hi = h
	}
	return lo, hi, true
}

// timingRange is the outer limits of a Timing: its earliest and latest
// event and its repeat.boundsPeriod, as R4 says date search on a Timing
// uses.
func timingRange(t map[string]any) (lo, hi time.Time, ok bool) {
	widen := func(l, h time.Time) {
		if !ok || l.Before(lo) {
			lo = l
		}
		if !ok || h.After(hi) {
			hi = h
		}
		ok = true
	}
	if evs, isArr := t["event"].([]any); isArr {
		for _, e := range evs {
			if s, isStr := e.(string); isStr {
				if l, h, err := DateRange(s); err == nil {
					widen(l, h)
				}
			}
		}
	}
	if rep, isObj := t["repeat"].(map[string]any); isObj {
		if bp, isObj := rep["boundsPeriod"].(map[string]any); isObj {
			if l, h, good := periodRange(bp); good {
				widen(l, h)
			}
		}
	}
	return lo, hi, ok
}

// quantityTypes are Quantity and its kinds (by derivation or profile).
var quantityTypes = map[string]bool{
	"Quantity": true, "Age": true, "Count": true, "Distance": true, "Duration": true,
	"SimpleQuantity": true, "MoneyQuantity": true,
}

func (ix *Index) addQuantity(param, typ string, v any) {
	x, ok := v.(map[string]any)
	if !ok {
		return
	}
	switch {
	case quantityTypes[typ]:
		n, ok := x["value"].(json.Number)
		if !ok {
			return
		}
		val, lo, hi, err := DecimalRange(string(n))
		if err != nil {
			return
		}
		ix.Quantities = append(ix.Quantities, Quantity{
			Param: param, Value: val, Low: lo, High: hi,
			System: str(x, "system"), Code: str(x, "code"), Unit: str(x, "unit"),
		})
	case typ == "Money":
		n, ok := x["value"].(json.Number)
		if !ok {
			return
		}
		val, lo, hi, err := DecimalRange(string(n))
		if err != nil {
			return
		}
		cur := str(x, "currency")
		ix.Quantities = append(ix.Quantities, Quantity{
			Param: param, Value: val, Low: lo, High: hi,
			System: "urn:iso:std:iso:4217", Code: cur, Unit: cur,
		})
	case typ == "Range":
		row := Quantity{Param: param}
		low, _ := x["low"].(map[string]any)
		high, _ := x["high"].(map[string]any)
		if n, ok := low["value"].(json.Number); ok {
			if _, l, _, err := DecimalRange(string(n)); err == nil {
				row.Low = l
			}
		}
		if n, ok := high["value"].(json.Number); ok {
			if _, _, h, err := DecimalRange(string(n)); err == nil {
				row.High = h
			}
		}
		if row.Low == "" && row.High == "" {
			return
		}
		unitsFrom := low
		if _, ok := low["value"]; !ok {
			unitsFrom = high
		}
		row.System, row.Code, row.Unit = str(unitsFrom, "system"), str(unitsFrom, "code"), str(unitsFrom, "unit")
		ix.Quantities = append(ix.Quantities, row)
	}
	// SampledData (value-quantity's second part) has no single value.
}

// mark is the length of every slice before a parameter's rows were added.
type mark [7]int

func (ix *Index) marks() mark {
	return mark{len(ix.Tokens), len(ix.Strings), len(ix.References), len(ix.Dates),
		len(ix.Numbers), len(ix.Quantities), len(ix.URIs)}
}

// truncate drops the rows added since m.
func (ix *Index) truncate(m mark) {
	ix.Tokens, ix.Strings, ix.References = ix.Tokens[:m[0]], ix.Strings[:m[1]], ix.References[:m[2]]
	ix.Dates, ix.Numbers, ix.Quantities, ix.URIs = ix.Dates[:m[3]], ix.Numbers[:m[4]], ix.Quantities[:m[5]], ix.URIs[:m[6]]
}

// dedupe drops repeated rows of the parameter added since m. A parameter
// has a handful of rows, so the quadratic scan beats a map.
func (ix *Index) dedupe(m mark) {
	ix.Tokens = dedupeFrom(ix.Tokens, m[0])
	ix.Strings = dedupeFrom(ix.Strings, m[1])
	ix.References = dedupeFrom(ix.References, m[2])
	ix.Dates = dedupeFrom(ix.Dates, m[3])
	ix.Numbers = dedupeFrom(ix.Numbers, m[4])
	ix.Quantities = dedupeFrom(ix.Quantities, m[5])
	ix.URIs = dedupeFrom(ix.URIs, m[6])
}

func dedupeFrom[T comparable](rows []T, from int) []T {
	if len(rows)-from < 2 {
		return rows
	}
	out := rows[:from+1]
next:
	for _, r := range rows[from+1:] {
		for _, o := range out[from:] {
			if o == r {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// Len is the number of rows.
func (ix *Index) Len() int {
	return len(ix.Tokens) + len(ix.Strings) + len(ix.References) + len(ix.Dates) +
		len(ix.Numbers) + len(ix.Quantities) + len(ix.URIs)
}
