package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/directory"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// The directory of services (docs/directory.md): the HTTP side of
// mapping's directory representation.
//
//   - The shipped StructureDefinitions, CodeSystems, ValueSets and the
//     $match OperationDefinition are seeded into the store at start-up
//     (snomed.SeedResources: idempotent, an administrator's edit kept).
//   - A write check on HealthcareService refuses directory extensions
//     matching could not read, and an update older, by the publisher's
//     own timestamp, than the stored entry with the same identifier (409).
//     It reads the directory as it was when the request began, before the
//     write's transaction: two writers racing on one identifier are not
//     ordered against each other (a publisher's feed has one writer per
//     entry; see the docs).
//   - HealthcareService/$match answers "who can take this patient, for
//     this need, in this timeframe" from an in-memory copy of the
//     directory (directory.Cache), which every call first checks against
//     the store with one cheap query, so every gateway process answers
//     from what is committed, never from a stale copy.

// DirectoryOptions configures the directory of services.
type DirectoryOptions struct {
	// Base is the canonical base of the directory's extensions and code
	// systems; empty: the server's CanonicalBase.
	Base string
	// Overlap bounds how long a write can take between stamping
	// meta.lastUpdated and committing, plus the clock skew between
	// gateway processes; the cache re-reads that much history. Default
	// 2 minutes (the request deadline is 30 s by default).
	Overlap time.Duration
	// Holidays tells bank holidays; nil is England and Wales
	// (mapping.EnglandAndWalesBankHoliday).
	Holidays func(y int, m time.Month, d int) bool
	// MaxWindow bounds a $match window (to - from). Default 92 days.
	MaxWindow time.Duration
	// Now is the clock; default the server's.
	Now func() time.Time
}

// directoryAPI is what RegisterDirectory sets up: the HTTP side of the directory.
type directoryAPI struct {
	d     mapping.Directory
	opts  DirectoryOptions
	cache *directory.Cache
	// perRequest holds each in-flight request's snapshot for the write
	// check, by request context.
	perRequest sync.Map
}

// RegisterDirectory seeds the directory's conformance resources, serves
// OperationDefinition (read and search, for the $match definition),
// checks every HealthcareService write and serves HealthcareService/$match
// (GET and POST). Call once, before Handler.
func (s *Server) RegisterDirectory(ctx context.Context, opts DirectoryOptions) error {
	if opts.Base == "" {
		opts.Base = s.opts.CanonicalBase
	}
	if opts.Overlap <= 0 {
		opts.Overlap = 2 * time.Minute
	}
	if opts.MaxWindow <= 0 {
		opts.MaxWindow = 92 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = s.opts.Now
	}
	dir := &directoryAPI{d: mapping.NewDirectory(opts.Base), opts: opts}
	dir.cache = s.newDirectoryCache(dir.d, opts.Overlap, opts.Now)
	resources, err := dir.d.Resources()
	if err != nil {
		return err
	}
	seeded, err := snomed.SeedResources(ctx, s.store, resources)
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	s.NoteSeeded(ctx, "directory resource", seeded)
	s.registry.Serve("OperationDefinition", Read, VRead, SearchType, HistoryInstance, HistoryType)
	s.registry.Serve("SearchParameter", Read, VRead, SearchType, HistoryInstance, HistoryType)
	if err := s.registerMatchSearch(dir); err != nil {
		return err
	}
	s.RegisterWriteCheck("HealthcareService", func(ctx context.Context, r *fhir.Resource, _ bool) ([]fhir.Issue, error) {
		return dir.check(ctx, r)
	})
	s.RegisterOperation(Operation{
		Name: "match", Level: TypeLevel, Type: "HealthcareService",
		Definition:  dir.d.Base() + "/OperationDefinition/" + mapping.MatchOperation,
		Idempotent:  true,
		Permissions: []Permission{{"HealthcareService", auth.Search}, {"HealthcareService", auth.Read}},
		Run:         dir.match,
	})
	return nil
}

// check is the HealthcareService write check. The publisher order is
// checked against the directory as it was when the request's first check
// ran: every entry of a Bundle is checked against one snapshot (one count
// query for the whole Bundle, not a search per entry), which is the state
// a transaction's entries are validated against anyway.
func (dir *directoryAPI) check(ctx context.Context, r *fhir.Resource) ([]fhir.Issue, error) {
	if issues := mapping.CheckDirectoryService(r, dir.d); len(issues) > 0 {
		return issues, nil
	}
	obj := r.Object()
	in := mapping.SourceUpdated(obj, dir.d)
	ids := mapping.Identifiers(obj)
	if in.IsZero() || len(ids) == 0 {
		return nil, nil
	}
	snap, err := dir.requestSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		for _, s := range snap.ByIdentifier(id.System, id.Value) {
			// A *fhir.Error from a write check refuses the write with its
			// own status: this is a conflict with stored state (409), not
			// invalid content (422).
			if err := mapping.CheckPublisherOrder(in, s.SourceUpdated, "HealthcareService/"+s.ID, dir.d); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}

// requestSnapshot is the directory snapshot of the request ctx belongs
// to, taken at its first call; a context that is never done (not a
// request's) gets a fresh one each time.
func (dir *directoryAPI) requestSnapshot(ctx context.Context) (*directory.Snapshot, error) {
	if ctx.Done() == nil {
		return dir.cache.Snapshot(ctx)
	}
	if v, ok := dir.perRequest.Load(ctx); ok {
		return v.(*directory.Snapshot), nil
	}
	snap, err := dir.cache.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if _, loaded := dir.perRequest.LoadOrStore(ctx, snap); !loaded {
		context.AfterFunc(ctx, func() { dir.perRequest.Delete(ctx) })
	}
	return snap, nil
}

// match is HealthcareService/$match.
func (dir *directoryAPI) match(ctx context.Context, in OperationInput) ([]byte, error) {
	q, count, err := dir.matchQuery(in.Params)
	if err != nil {
		return nil, err
	}
	snap, err := dir.cache.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return dir.matchBundle(in.Base, snap, mapping.Match(snap.Candidates(q.ServiceTypes), dir.d, q), count)
}

// $match answers with the best matchCount matches unless _count says
// otherwise (at most maxMatchCount); total is the number of all of them.
const (
	matchCount    = 50
	maxMatchCount = 1000
)

// matchQuery reads the $match parameters (see the OperationDefinition).
// Unknown parameters are refused: a misspelt one would silently widen the
// answer, and a wider answer here is a patient sent where they should not
// be.
func (dir *directoryAPI) matchQuery(p *fhir.Parameters) (q mapping.MatchQuery, count int, err error) {
	q, err = dir.matchParams(p)
	if err != nil {
		return q, 0, err
	}
	count = matchCount
	if v, ok := p.String("_count"); ok {
		n, perr := strconv.Atoi(strings.TrimSpace(v))
		if perr != nil || n < 0 {
			return q, 0, fhir.Errorf(fhir.CodeInvalid, "$match parameter _count: %q is not a non-negative integer", v).At("_count").WithStatus(http.StatusBadRequest)
		}
		count = min(n, maxMatchCount)
	}
	return q, count, nil
}

func (dir *directoryAPI) matchParams(p *fhir.Parameters) (mapping.MatchQuery, error) {
	q := mapping.MatchQuery{Holidays: dir.opts.Holidays}
	known := map[string]bool{}
	for _, mp := range matchParamNames {
		known[mp] = true
	}
	bad := func(name, format string, args ...any) error {
		return fhir.Errorf(fhir.CodeInvalid, "$match parameter %s: %s", name, fmt.Sprintf(format, args...)).At(name).WithStatus(http.StatusBadRequest)
	}
	names, err := parameterNames(p)
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
		if q.BirthDate.After(dir.opts.Now()) {
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
	if q.From, q.To, err = matchWindow(dir.opts.Now(), "", "from", from, "to", to, bad); err != nil {
		return q, err
	}
	if q.To.Sub(q.From) > dir.opts.MaxWindow {
		return q, bad("to", "the window is longer than %d days", int(dir.opts.MaxWindow.Hours()/24))
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
			return nil, fhir.Errorf(fhir.CodeInvalid, "$match parameter %s: a value has no code", name).At(name).WithStatus(http.StatusBadRequest)
		}
	}
	return out, nil
}

// parseInstantish reads a dateTime: with a time (a zone, or Europe/London
// when none) or a date (local midnight).
// matchWindow is the window of a match, from the values of its two
// parameters (named fromName and toName in errors; "" when not given; a
// leading prefix is ignored): it starts now unless told, lasts a week
// unless told, and must end after it starts.
func matchWindow(now time.Time, prefix, fromName, from, toName, to string, bad func(name, format string, args ...any) error) (time.Time, time.Time, error) {
	start, end := now, time.Time{}
	for _, p := range []struct {
		name, v string
		at      *time.Time
	}{{fromName, from, &start}, {toName, to, &end}} {
		if p.v == "" {
			continue
		}
		t, ok := parseInstantish(strings.TrimPrefix(p.v, prefix))
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

func parseInstantish(v string) (time.Time, bool) {
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

// parameterNames lists the names of a Parameters' parameters.
func parameterNames(p *fhir.Parameters) ([]string, error) {
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

func dirStr(v any) string { s, _ := v.(string); return s }

func dirList(v any) []any { l, _ := v.([]any); return l }

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

// outcomeSize estimates the bytes matchOutcome writes.
func outcomeSize(res mapping.MatchResult, shown []mapping.Matched) int {
	issues := 0
	for _, m := range shown {
		issues += len(m.Notes)
	}
	for _, x := range res.Excluded {
		issues += len(x.Reasons)
	}
	return 512 + 560*issues
}

// matchOutcome writes the OperationOutcome of a match to ob: a summary, then one
// issue per note on the shown matches and per reason each excluded
// candidate was excluded, each naming its service (directory-match-subject)
// and its reason (directory-match-reason).
func (dir *directoryAPI) matchOutcome(ob *bytes.Buffer, res mapping.MatchResult, shown []mapping.Matched) {
	reasonSystem := dir.d.CodeSystem(mapping.MatchReasonSystem)
	subjectURL := dir.d.Extension(mapping.ExtMatchSubject)
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

// matchBundle renders the searchset: the stored bytes of each match, as
// they are (no re-encoding, no compaction: at 5,000 services the answer
// is the bulk of a $match), and the outcome.
func (dir *directoryAPI) matchBundle(base string, snap *directory.Snapshot, res mapping.MatchResult, count int) ([]byte, error) {
	shown := res.Matches[:min(count, len(res.Matches))]
	size := outcomeSize(res, shown) + 256
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
	dir.matchOutcome(b, res, shown)
	b.WriteString(`,"search":{"mode":"outcome"}}]}`)
	return b.Bytes(), nil
}

// newDirectoryCache is a directory cache of the server's store, closed
// with the server.
func (s *Server) newDirectoryCache(d mapping.Directory, overlap time.Duration, now func() time.Time) *directory.Cache {
	c := directory.NewCache(s.store, d, overlap, now)
	s.onClose(c.Close)
	return c
}
