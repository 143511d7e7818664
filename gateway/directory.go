package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
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
//     directory (directoryCache), which every call first checks against
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

// directory is what RegisterDirectory sets up.
type directory struct {
	d     mapping.Directory
	opts  DirectoryOptions
	cache *directoryCache
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
	dir := &directory{d: mapping.NewDirectory(opts.Base), opts: opts}
	dir.cache = &directoryCache{st: s.store, d: dir.d, overlap: opts.Overlap, now: opts.Now}
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
func (dir *directory) check(ctx context.Context, r *fhir.Resource) ([]fhir.Issue, error) {
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
		for _, cs := range snap.byIdentifier[id.System+"|"+id.Value] {
			// A *fhir.Error from a write check refuses the write with its
			// own status: this is a conflict with stored state (409), not
			// invalid content (422).
			s := cs.cand.Service
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
func (dir *directory) requestSnapshot(ctx context.Context) (*directorySnapshot, error) {
	if ctx.Done() == nil {
		return dir.cache.snapshot(ctx)
	}
	if v, ok := dir.perRequest.Load(ctx); ok {
		return v.(*directorySnapshot), nil
	}
	snap, err := dir.cache.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if _, loaded := dir.perRequest.LoadOrStore(ctx, snap); !loaded {
		context.AfterFunc(ctx, func() { dir.perRequest.Delete(ctx) })
	}
	return snap, nil
}

// match is HealthcareService/$match.
func (dir *directory) match(ctx context.Context, in OperationInput) ([]byte, error) {
	q, count, err := dir.matchQuery(in.Params)
	if err != nil {
		return nil, err
	}
	snap, err := dir.cache.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return dir.matchBundle(in.Base, snap, mapping.Match(snap.candidates(q.ServiceTypes), dir.d, q), count)
}

// candidates narrows the snapshot to the services having one of the
// types' codes (mapping.Match still checks systems), or all of them.
func (snap *directorySnapshot) candidates(types []mapping.Code) []mapping.Candidate {
	if len(types) == 0 {
		return snap.cands
	}
	if len(types) == 1 {
		return snap.byTypeCode[types[0].Code]
	}
	seen := map[*mapping.Service]bool{}
	var out []mapping.Candidate
	for _, t := range types {
		for _, c := range snap.byTypeCode[t.Code] {
			if !seen[c.Service] {
				seen[c.Service] = true
				out = append(out, c)
			}
		}
	}
	return out
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
func (dir *directory) matchQuery(p *fhir.Parameters) (q mapping.MatchQuery, count int, err error) {
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

func (dir *directory) matchParams(p *fhir.Parameters) (mapping.MatchQuery, error) {
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
func (dir *directory) matchOutcome(ob *bytes.Buffer, res mapping.MatchResult, shown []mapping.Matched) {
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
func (dir *directory) matchBundle(base string, snap *directorySnapshot, res mapping.MatchResult, count int) ([]byte, error) {
	shown := res.Matches[:min(count, len(res.Matches))]
	size := outcomeSize(res, shown) + 256
	for _, m := range shown {
		size += len(snap.bodyOf[m.Service]) + len(base) + 96
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
		b.Write(snap.bodyOf[m.Service])
		fmt.Fprintf(b, `,"search":{"mode":"match","score":%s}},`, strconv.FormatFloat(m.Score, 'f', -1, 64))
	}
	b.WriteString(`{"resource":`)
	dir.matchOutcome(b, res, shown)
	b.WriteString(`,"search":{"mode":"outcome"}}]}`)
	return b.Bytes(), nil
}

// directoryCache is the decoded directory that $match and the write
// check read. It is kept exact against the store, with no clock and no
// invalidation message, so any number of gateway processes can write and
// read one database:
//
// Versions are counted in ranges of meta.lastUpdated (one indexed range
// count each). A refresh at time T takes the watermark W = T - overlap
// and records C, the versions stamped after W, and the counts of a few
// ranges between W and T (the last second, five seconds, thirty seconds,
// the rest); then it reads what changed. No write takes longer than the
// overlap between stamping a version and committing it, so anything
// committed after the refresh is stamped after W and adds to C: before
// each use the count after W is read again, and an unchanged count means
// the copy is current. When it changed, the versions stamped after T are
// read and applied, and so are those of every range whose count changed
// (a transaction that was under way at T committed since), from the
// oldest such range on. Past reloadAbove changed versions the directory
// is read afresh instead.
//
// So a caller never gets a copy older than what was committed when it
// asked, whichever process wrote it; a quiet directory costs one count per
// call, and a busy one reads each change about once.
type directoryCache struct {
	st      store.Store
	d       mapping.Directory
	overlap time.Duration
	now     func() time.Time

	// Concurrent callers share freshness checks: a caller that arrives
	// while a check is under way waits for the next one, which starts
	// after that check ends, so it still sees everything committed
	// before it asked; everyone waiting by then shares that one check
	// (see snapshot).
	flight  sync.Mutex
	current *directoryCheck // the check under way
	queued  *directoryCheck // the check that starts when current ends

	mu     sync.Mutex
	loaded bool
	// bounds are the watermark, the range bounds and the refresh time,
	// ascending; counts[i] is the versions stamped in (bounds[i],
	// bounds[i+1]] at the refresh; total those stamped after bounds[0].
	bounds []time.Time
	counts []int
	total  int
	// changes is the store's change counter of HealthcareService at the
	// refresh, when counted (store.ChangeCounter): an equal counter means
	// the copy is current, without counting versions.
	changes int64
	counted bool
	byID    map[string]*cachedService
	snap    *directorySnapshot
}

// directorySnapshot is the directory at one moment; it is replaced, never
// changed, so readers use it after the cache's lock is released.
type directorySnapshot struct {
	list []*cachedService
	// cands are list's candidates, in the same order, as mapping.Match
	// takes them.
	cands []mapping.Candidate
	// bodyOf is each service's stored JSON.
	bodyOf map[*mapping.Service][]byte
	// byTypeCode indexes cands by the codes of their types (type,
	// specialty, team role), whatever the system.
	byTypeCode map[string][]mapping.Candidate
	// byIdentifier indexes the entries by "system|value".
	byIdentifier map[string][]*cachedService
	// byPractice indexes cands by the practices their catchment lists.
	byPractice map[string][]mapping.Candidate
	// byCategory indexes cands by their navigation categories, and
	// byTypeInCategory by category and type coding ("category\x00system|code").
	byCategory, byTypeInCategory map[string][]mapping.Candidate
}

// ofPractice is the candidates whose catchment lists the practice, in the
// order of cands (mapping.DecideInput.OfPractice).
func (s *directorySnapshot) ofPractice(practice string) []mapping.Candidate {
	return s.byPractice[practice]
}

// ofCategory is the candidates of a navigation category, in the order of
// cands (mapping.DecideInput.OfCategory).
func (s *directorySnapshot) ofCategory(category string) []mapping.Candidate {
	return s.byCategory[category]
}

// ofTypeInCategory is the candidates with the coding key among their
// types and of the category, in the order of cands
// (mapping.DecideInput.OfTypeInCategory).
func (s *directorySnapshot) ofTypeInCategory(key, category string) []mapping.Candidate {
	return s.byTypeInCategory[category+"\x00"+key]
}

type cachedService struct {
	cand    mapping.Candidate
	body    []byte
	version int64
}

// reloadAbove: past this many changed versions a full read is cheaper than
// applying them one by one.
const reloadAbove = 5000

// lateRanges are the recent ranges counted apart, before the refresh time.
var lateRanges = []time.Duration{30 * time.Second, 5 * time.Second, time.Second}

// directoryCheck is one freshness check and its outcome, shared by the
// callers that joined it; done is closed when it has ended.
type directoryCheck struct {
	done chan struct{}
	snap *directorySnapshot
	err  error
}

// queuedCheckTimeout bounds a check run for the callers queued behind
// another (it runs on its own, not on any one caller's deadline).
const queuedCheckTimeout = time.Minute

// snapshot is the directory as committed when it was called. With no
// check under way the caller checks (and refreshes) itself. Otherwise it
// joins the queued check, which starts only after the one under way ends
// — so after this call began — and is shared by every caller that
// queued meanwhile: under load there is about one check in flight, not
// one per caller held on a lock.
func (c *directoryCache) snapshot(ctx context.Context) (*directorySnapshot, error) {
	c.flight.Lock()
	if c.current == nil {
		ch := &directoryCheck{done: make(chan struct{})}
		c.current = ch
		c.flight.Unlock()
		c.run(ctx, ch)
		return ch.snap, ch.err
	}
	if c.queued == nil {
		c.queued = &directoryCheck{done: make(chan struct{})}
	}
	ch := c.queued
	c.flight.Unlock()
	select {
	case <-ch.done:
		return ch.snap, ch.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run carries out ch, the current check, then starts the queued one.
func (c *directoryCache) run(ctx context.Context, ch *directoryCheck) {
	ch.snap, ch.err = c.check(ctx)
	close(ch.done)
	c.flight.Lock()
	next := c.queued
	c.current, c.queued = next, nil
	c.flight.Unlock()
	if next != nil {
		go func() {
			qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queuedCheckTimeout)
			defer cancel()
			c.run(qctx, next)
		}()
	}
}

// check compares the store's count with the copy's and refreshes the
// copy when they differ.
func (c *directoryCache) check(ctx context.Context) (*directorySnapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded {
		if err := c.reload(ctx); err != nil {
			return nil, err
		}
		return c.snap, nil
	}
	if c.counted {
		n, ok, err := c.st.(store.ChangeCounter).Changes(ctx, "HealthcareService")
		if err != nil {
			return nil, err
		}
		// Unchanged: current. (Once the mark is older than the overlap the
		// check below re-marks, so a later change counts few versions.)
		if ok && n == c.changes && c.now().Sub(c.bounds[len(c.bounds)-1]) <= c.overlap {
			return c.snap, nil
		}
	}
	n, err := c.count(ctx, c.bounds[0], time.Time{})
	if err != nil {
		return nil, err
	}
	// A changed count means something committed since the refresh. An
	// unchanged one past the overlap re-marks too, so the watermark
	// follows the clock: otherwise every check of a quiet directory
	// would count the versions of its last publisher sync, however long
	// ago (5,000 of them: 0.5 ms a navigation).
	if n != c.total || c.now().Sub(c.bounds[len(c.bounds)-1]) > c.overlap {
		if err := c.refresh(ctx); err != nil {
			return nil, err
		}
	}
	return c.snap, nil
}

// count is the number of HealthcareService versions stamped in
// (since, at] (at zero: no upper bound).
func (c *directoryCache) count(ctx context.Context, since, at time.Time) (int, error) {
	page, err := c.st.History(ctx, store.HistoryQuery{Type: "HealthcareService", Since: since, At: at})
	if err != nil {
		return 0, err
	}
	return page.Total, nil
}

// mark is a refresh's bounds and counts, taken before anything is read, so
// what commits later is counted next time.
type mark struct {
	bounds  []time.Time
	counts  []int
	total   int
	changes int64
	counted bool
}

func (c *directoryCache) mark(ctx context.Context) (mark, error) {
	at := c.now()
	m := mark{bounds: []time.Time{at.Add(-c.overlap)}}
	for _, d := range lateRanges {
		if d < c.overlap {
			m.bounds = append(m.bounds, at.Add(-d))
		}
	}
	m.bounds = append(m.bounds, at)
	var err error
	if cc, ok := c.st.(store.ChangeCounter); ok {
		// First: a version committed after this read moves the counter
		// past the value kept.
		if m.changes, m.counted, err = cc.Changes(ctx, "HealthcareService"); err != nil {
			return m, err
		}
	}
	if m.total, err = c.count(ctx, m.bounds[0], time.Time{}); err != nil {
		return m, err
	}
	m.counts, err = c.rangeCounts(ctx, m.bounds)
	return m, err
}

func (c *directoryCache) rangeCounts(ctx context.Context, bounds []time.Time) ([]int, error) {
	counts := make([]int, len(bounds)-1)
	for i := range counts {
		n, err := c.count(ctx, bounds[i], bounds[i+1])
		if err != nil {
			return nil, err
		}
		counts[i] = n
	}
	return counts, nil
}

func (c *directoryCache) apply(m mark, byID map[string]*cachedService) {
	c.bounds, c.counts, c.total, c.byID, c.loaded = m.bounds, m.counts, m.total, byID, true
	c.changes, c.counted = m.changes, m.counted
	c.rebuild()
}

func (c *directoryCache) reload(ctx context.Context) error {
	m, err := c.mark(ctx)
	if err != nil {
		return err
	}
	q, err := search.ParseQuery("HealthcareService", url.Values{}, true)
	if err != nil {
		return err
	}
	byID := map[string]*cachedService{}
	page := store.PageRequest{Count: 1000}
	for {
		res, err := c.st.Search(ctx, q, page)
		if err != nil {
			return err
		}
		for _, v := range res.Matches {
			cs, err := c.decode(v)
			if err != nil {
				return err
			}
			byID[v.ID] = cs
		}
		if res.Next == "" {
			break
		}
		page.Cursor = res.Next
	}
	c.apply(m, byID)
	return nil
}

// refresh applies what changed since the last refresh (see
// directoryCache).
func (c *directoryCache) refresh(ctx context.Context) error {
	m, err := c.mark(ctx)
	if err != nil {
		return err
	}
	// After the new mark: a late commit from now on is in its counts.
	now, err := c.rangeCounts(ctx, c.bounds)
	if err != nil {
		return err
	}
	from := c.bounds[len(c.bounds)-1]
	for i := range now {
		if now[i] != c.counts[i] {
			from = c.bounds[i]
			break
		}
	}
	// The copy is made at the first change: a refresh that finds none (the
	// directory's periodic re-mark) keeps the entries and the snapshot.
	byID, copied := c.byID, false
	change := func() {
		if !copied {
			byID, copied = maps.Clone(c.byID), true
		}
	}
	seen := map[string]bool{}
	// Newest first, offset paging with no upper bound: a version committed
	// meanwhile shifts later pages (a version is read twice, which the
	// version check absorbs); none is skipped, and it is counted next time
	// anyway.
	for offset := 0; ; {
		page, err := c.st.History(ctx, store.HistoryQuery{Type: "HealthcareService", Since: from, Count: 1000, Offset: offset})
		if err != nil {
			return err
		}
		if page.Total > reloadAbove {
			return c.reload(ctx)
		}
		for _, v := range page.Versions {
			if seen[v.ID] {
				continue
			}
			seen[v.ID] = true
			if cur, ok := byID[v.ID]; ok && cur.version >= v.VersionID {
				continue
			}
			if v.Deleted {
				if _, ok := byID[v.ID]; ok {
					change()
					delete(byID, v.ID)
				}
				continue
			}
			cs, err := c.decode(v)
			if err != nil {
				return err
			}
			change()
			byID[v.ID] = cs
		}
		offset += len(page.Versions)
		if len(page.Versions) == 0 || offset >= page.Total {
			break
		}
	}
	if !copied {
		c.bounds, c.counts, c.total = m.bounds, m.counts, m.total
		c.changes, c.counted = m.changes, m.counted
		return nil
	}
	c.apply(m, byID)
	return nil
}

func (c *directoryCache) decode(v store.Version) (*cachedService, error) {
	obj, err := fhir.DecodeJSON(v.Body)
	if err != nil {
		return nil, fmt.Errorf("directory: HealthcareService/%s version %d: %w", v.ID, v.VersionID, err)
	}
	m, _ := obj.(map[string]any)
	s, issues := mapping.ParseService(m, c.d)
	unreadable := false
	for _, is := range issues {
		unreadable = unreadable || is.Severity == fhir.SeverityError
	}
	return &cachedService{cand: mapping.Candidate{Service: s, Unreadable: unreadable}, body: v.Body, version: v.VersionID}, nil
}

// rebuild makes the snapshot of byID.
func (c *directoryCache) rebuild() {
	snap := &directorySnapshot{
		list:             make([]*cachedService, 0, len(c.byID)),
		cands:            make([]mapping.Candidate, 0, len(c.byID)),
		bodyOf:           make(map[*mapping.Service][]byte, len(c.byID)),
		byTypeCode:       map[string][]mapping.Candidate{},
		byIdentifier:     make(map[string][]*cachedService, len(c.byID)),
		byPractice:       map[string][]mapping.Candidate{},
		byCategory:       map[string][]mapping.Candidate{},
		byTypeInCategory: map[string][]mapping.Candidate{},
	}
	for _, v := range c.byID {
		snap.list = append(snap.list, v)
		snap.cands = append(snap.cands, v.cand)
		snap.bodyOf[v.cand.Service] = v.body
		codes := map[string]bool{}
		for k := range v.cand.Service.Types {
			_, code, _ := strings.Cut(k, "|")
			if !codes[code] {
				codes[code] = true
				snap.byTypeCode[code] = append(snap.byTypeCode[code], v.cand)
			}
		}
		for _, id := range v.cand.Service.Identifiers {
			k := id.System + "|" + id.Value
			snap.byIdentifier[k] = append(snap.byIdentifier[k], v)
		}
		if ct := v.cand.Service.Catchment; ct != nil {
			for ods := range ct.Practices {
				snap.byPractice[ods] = append(snap.byPractice[ods], v.cand)
			}
		}
		for cat := range v.cand.Service.Categories {
			snap.byCategory[cat] = append(snap.byCategory[cat], v.cand)
			for k := range v.cand.Service.Types {
				snap.byTypeInCategory[cat+"\x00"+k] = append(snap.byTypeInCategory[cat+"\x00"+k], v.cand)
			}
		}
	}
	c.snap = snap
}
