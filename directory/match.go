package directory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/mapping"
)

// MatchOptions bound and clock a $match.
type MatchOptions struct {
	// Holidays tells bank holidays (mapping.MatchQuery.Holidays).
	Holidays func(y int, m time.Month, d int) bool
	// MaxWindow bounds the window (to - from).
	MaxWindow time.Duration
	Now       func() time.Time
}

// $match answers with the best matchCount matches unless _count says
// otherwise (at most maxMatchCount); total is the number of all of them.
const (
	matchCount    = 50
	maxMatchCount = 1000
)

// ParseMatch reads the $match parameters (see the OperationDefinition).
// Unknown parameters are refused: a misspelt one would silently widen the
// answer, and a wider answer here is a patient sent where they should not
// be.
func ParseMatch(p *fhir.Parameters, opts MatchOptions) (q mapping.MatchQuery, count int, err error) {
	q, err = matchParams(p, opts)
	if err != nil {
		return q, 0, err
	}
	count = matchCount
	if v, ok := p.String("_count"); ok {
		n, perr := strconv.Atoi(strings.TrimSpace(v))
		if perr != nil || n < 0 {
			return q, 0, fhir.Errorf(fhir.CodeInvalid, "$match parameter _count: %q is not a non-negative integer", v).At("_count")
		}
		count = min(n, maxMatchCount)
	}
	return q, count, nil
}

func matchParams(p *fhir.Parameters, opts MatchOptions) (mapping.MatchQuery, error) {
	q := mapping.MatchQuery{Holidays: opts.Holidays}
	known := map[string]bool{}
	for _, mp := range matchParamNames {
		known[mp] = true
	}
	bad := func(name, format string, args ...any) error {
		return fhir.Errorf(fhir.CodeInvalid, "$match parameter %s: %s", name, fmt.Sprintf(format, args...)).At(name)
	}
	names, err := ParameterNames(p)
	if err != nil {
		return q, err
	}
	for _, name := range names {
		if !known[name] {
			return q, bad(name, "unknown parameter (the OperationDefinition lists %s)", strings.Join(matchParamNames, ", "))
		}
	}
	single := func(name string) (string, error) {
		if len(p.All(name)) > 1 {
			return "", bad(name, "given more than once")
		}
		v, _ := p.String(name)
		return strings.TrimSpace(v), nil
	}
	var v string
	if v, err = single("birthdate"); err != nil {
		return q, err
	} else if v != "" {
		if q.BirthDate, err = time.ParseInLocation("2006-01-02", v, mapping.London); err != nil {
			return q, bad("birthdate", "%q is not a date (YYYY-MM-DD)", v)
		}
		if q.BirthDate.After(opts.Now()) {
			return q, bad("birthdate", "%s is in the future", v)
		}
	}
	if v, err = single("age"); err != nil {
		return q, err
	} else if v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 || n > 150 {
			return q, bad("age", "%q is not an age in whole years", v)
		}
		q.AgeYears, q.HasAge = n, true
	}
	if v, err = single("sex"); err != nil {
		return q, err
	}
	switch v {
	case "", "male", "female", "other", "unknown":
		q.Sex = v
		if v == "unknown" {
			q.Sex = ""
		}
	default:
		return q, bad("sex", "%q is not an administrative-gender code (male, female, other, unknown)", v)
	}
	if v, err = single("need-group"); err != nil {
		return q, err
	} else if v != "" {
		if n, perr := strconv.Atoi(v); perr != nil || n < 1 || n > 11 || strconv.Itoa(n) != v {
			return q, bad("need-group", "%q is not a patient-need-group code (1 to 11)", v)
		}
		q.NeedGroup = v
	}
	if q.Practice, err = single("practice"); err != nil {
		return q, err
	}
	if q.Postcode, err = single("postcode"); err != nil {
		return q, err
	} else if q.Postcode != "" {
		if _, ok := mapping.PostcodeDistrict(q.Postcode); !ok {
			return q, bad("postcode", "%q is not a UK postcode or postcode district", q.Postcode)
		}
	}
	var from, to string
	if from, err = single("from"); err != nil {
		return q, err
	}
	if to, err = single("to"); err != nil {
		return q, err
	}
	if q.From, q.To, err = MatchWindow(opts.Now(), "", "from", from, "to", to, bad); err != nil {
		return q, err
	}
	if q.To.Sub(q.From) > opts.MaxWindow {
		return q, bad("to", "the window is longer than %d days", int(opts.MaxWindow.Hours()/24))
	}
	for _, name := range []string{"service-type", "condition", "communication-need"} {
		codes, err := paramTokens(p, name)
		if err != nil {
			return q, err
		}
		switch name {
		case "service-type":
			q.ServiceTypes = codes
		case "condition":
			q.Conditions = codes
		default:
			q.CommunicationNeeds = codes
		}
	}
	cats, err := paramTokens(p, "category")
	if err != nil {
		return q, err
	}
	for _, c := range cats {
		q.Categories = append(q.Categories, c.Code)
	}
	methods, err := paramTokens(p, "referral-method")
	if err != nil {
		return q, err
	}
	for _, c := range methods {
		q.ReferralMethods = append(q.ReferralMethods, c.Code)
	}
	return q, nil
}

var matchParamNames = []string{"birthdate", "age", "sex", "need-group", "practice", "postcode", "from", "to",
	"service-type", "category", "condition", "communication-need", "referral-method", "_count"}

// paramTokens reads a token parameter, repeated or comma-separated, from
// strings ([system]|[code] or [code]), codes, Codings or CodeableConcepts.
func paramTokens(p *fhir.Parameters, name string) ([]mapping.Code, error) {
	var out []mapping.Code
	for _, m := range p.All(name) {
		switch {
		case m["valueCoding"] != nil:
			c, _ := m["valueCoding"].(map[string]any)
			out = append(out, mapping.Code{System: dirStr(c["system"]), Code: dirStr(c["code"])})
		case m["valueCodeableConcept"] != nil:
			cc, _ := m["valueCodeableConcept"].(map[string]any)
			for _, x := range dirList(cc["coding"]) {
				c, _ := x.(map[string]any)
				out = append(out, mapping.Code{System: dirStr(c["system"]), Code: dirStr(c["code"])})
			}
		default:
			v := dirStr(m["valueString"])
			if v == "" {
				v = dirStr(m["valueCode"])
			}
			if v == "" {
				v = dirStr(m["valueUri"])
			}
			for _, part := range strings.Split(v, ",") {
				part = strings.TrimSpace(part)
				if part == "" {
					continue
				}
				c := mapping.Code{Code: part}
				if sys, code, ok := strings.Cut(part, "|"); ok {
					c = mapping.Code{System: sys, Code: code}
				}
				out = append(out, c)
			}
		}
	}
	for _, c := range out {
		if c.Code == "" {
			return nil, fhir.Errorf(fhir.CodeInvalid, "$match parameter %s: a value has no code", name).At(name)
		}
	}
	return out, nil
}

// MatchWindow is the window of a match, from the values of its two
// parameters (named fromName and toName in errors; "" when not given; a
// leading prefix is ignored): it starts now unless told, lasts a week
// unless told, and must end after it starts.
func MatchWindow(now time.Time, prefix, fromName, from, toName, to string, bad func(name, format string, args ...any) error) (time.Time, time.Time, error) {
	start, end := now, time.Time{}
	for _, p := range []struct {
		name, v string
		at      *time.Time
	}{{fromName, from, &start}, {toName, to, &end}} {
		if p.v == "" {
			continue
		}
		t, ok := ParseInstantish(strings.TrimPrefix(p.v, prefix))
		if !ok {
			return start, end, bad(p.name, "%q is not a dateTime", p.v)
		}
		*p.at = t
	}
	if end.IsZero() {
		end = start.Add(7 * 24 * time.Hour)
	}
	if !end.After(start) {
		return start, end, bad(toName, "the window must end after it starts")
	}
	return start, end, nil
}

// ParseInstantish reads a dateTime: with a time (a zone, or Europe/London
// when none) or a date (local midnight).
func ParseInstantish(v string) (time.Time, bool) {
	v = strings.ReplaceAll(v, " ", "+") // an unescaped + in a query string
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, true
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, mapping.London); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// ParameterNames lists the names of a Parameters' parameters.
func ParameterNames(p *fhir.Parameters) ([]string, error) {
	b, err := p.JSON()
	if err != nil {
		return nil, err
	}
	v, err := fhir.DecodeJSON(b)
	if err != nil {
		return nil, err
	}
	obj, _ := v.(map[string]any)
	var out []string
	for _, e := range dirList(obj["parameter"]) {
		m, _ := e.(map[string]any)
		out = append(out, dirStr(m["name"]))
	}
	return out, nil
}

var dirStr, dirList = fhir.Str, fhir.List

// writeJSONString writes s as a JSON string (no HTML escaping; invalid
// UTF-8 as U+FFFD, as encoding/json does).
func writeJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	writeJSONChars(b, s)
	b.WriteByte('"')
}

// writeJSONStrings writes the concatenation of parts as one JSON string,
// without building it first.
func writeJSONStrings(b *bytes.Buffer, parts ...string) {
	b.WriteByte('"')
	for _, p := range parts {
		writeJSONChars(b, p)
	}
	b.WriteByte('"')
}

// writeJSONChars writes s escaped for a JSON string, without quotes.
func writeJSONChars(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		// Copy the run of bytes that need no escaping at once.
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] < utf8.RuneSelf && s[j] != '"' && s[j] != '\\' {
			j++
		}
		if j > i {
			b.WriteString(s[i:j])
			i = j
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(`\ufffd`)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
}

func jsonString(s string) string {
	var b bytes.Buffer
	writeJSONString(&b, s)
	return b.String()
}

// OutcomeSize estimates the bytes WriteOutcome writes.
func OutcomeSize(res mapping.MatchResult, shown []mapping.Matched) int {
	issues := 0
	for _, m := range shown {
		issues += len(m.Notes)
	}
	for _, x := range res.Excluded {
		issues += len(x.Reasons)
	}
	return 512 + 560*issues
}

// WriteOutcome writes the OperationOutcome of a match to ob: a summary, then one
// issue per note on the shown matches and per reason each excluded
// candidate was excluded, each naming its service (directory-match-subject)
// and its reason (directory-match-reason).
func WriteOutcome(ob *bytes.Buffer, d mapping.Directory, res mapping.MatchResult, shown []mapping.Matched) {
	reasonSystem := d.CodeSystem(mapping.MatchReasonSystem)
	subjectURL := d.Extension(mapping.ExtMatchSubject)
	summary := fmt.Sprintf("%d candidate services of the wanted type and category: %d can take the patient, %d cannot (each reason below)",
		len(res.Matches)+len(res.Excluded), len(res.Matches), len(res.Excluded))
	if len(shown) < len(res.Matches) {
		summary += fmt.Sprintf("; %d matches are listed on this page (_count)", len(shown))
	}
	// The outcome is written by hand, into the answer's buffer: thousands
	// of issues through a generic encoder cost more than the match.
	ob.WriteString(`{"resourceType":"OperationOutcome","issue":[{"severity":"information","code":"informational","diagnostics":`)
	writeJSONString(ob, summary)
	ob.WriteString(`}`)
	subject, system := jsonString(subjectURL), jsonString(reasonSystem)
	issue := func(s *mapping.Service, code string, r mapping.Reason) {
		ob.WriteString(`,{"extension":[{"url":`)
		ob.WriteString(subject)
		ob.WriteString(`,"valueReference":{"reference":`)
		writeJSONStrings(ob, "HealthcareService/", s.ID)
		if s.Name != "" {
			ob.WriteString(`,"display":`)
			writeJSONString(ob, s.Label())
		}
		ob.WriteString(`}}],"severity":"information","code":"`)
		ob.WriteString(code)
		ob.WriteString(`","details":{"coding":[{"system":`)
		ob.WriteString(system)
		ob.WriteString(`,"code":`)
		writeJSONString(ob, r.Code)
		ob.WriteString(`}]},"diagnostics":`)
		writeJSONStrings(ob, "HealthcareService/", s.ID, " (", s.Label(), "): ", r.Text)
		ob.WriteString(`}`)
	}
	for _, m := range shown {
		for _, n := range m.Notes {
			issue(m.Service, "informational", n)
		}
	}
	for _, x := range res.Excluded {
		for _, r := range x.Reasons {
			issue(x.Service, "business-rule", r)
		}
	}
	ob.WriteString(`]}`)
}

// MatchBundle renders the searchset: the stored bytes of each match, as
// they are (no re-encoding, no compaction: at 5,000 services the answer
// is the bulk of a $match), and the outcome.
func MatchBundle(base string, d mapping.Directory, snap *Snapshot, res mapping.MatchResult, count int) ([]byte, error) {
	shown := res.Matches[:min(count, len(res.Matches))]
	size := OutcomeSize(res, shown) + 256
	for _, m := range shown {
		size += len(snap.Body(m.Service)) + len(base) + 96
	}
	b := bytes.NewBuffer(make([]byte, 0, size))
	fmt.Fprintf(b, `{"resourceType":"Bundle","type":"searchset","total":%d`, len(res.Matches))
	if base != "" {
		self, _ := json.Marshal(base + "/HealthcareService/$match")
		fmt.Fprintf(b, `,"link":[{"relation":"self","url":%s}]`, self)
	}
	b.WriteString(`,"entry":[`)
	for _, m := range shown {
		b.WriteString(`{`)
		if base != "" {
			u, _ := json.Marshal(base + "/HealthcareService/" + m.Service.ID)
			fmt.Fprintf(b, `"fullUrl":%s,`, u)
		}
		b.WriteString(`"resource":`)
		b.Write(snap.Body(m.Service))
		fmt.Fprintf(b, `,"search":{"mode":"match","score":%s}},`, strconv.FormatFloat(m.Score, 'f', -1, 64))
	}
	b.WriteString(`{"resource":`)
	WriteOutcome(b, d, res, shown)
	b.WriteString(`,"search":{"mode":"outcome"}}]}`)
	return b.Bytes(), nil
}
