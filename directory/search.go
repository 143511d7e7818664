package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/snomed"
)

// The matching search: HealthcareService?eligible-age=34&... runs the
// matcher of $match through custom search parameters
// (mapping.MatchSearchParams, each a SearchParameter seeded with the
// directory's conformance resources and declared in the
// CapabilityStatement). Any of them makes the search a matching search:
//
//   - the answer is a searchset of the services able to take the
//     patient in the window, best first (search.score), in the order of
//     $match, paged by _count and a _cursor holding the offset (pages
//     are ranked afresh against the directory as committed, so a write
//     between pages can shift entries by one);
//   - ordinary HealthcareService parameters (service-type,
//     service-category, organization, _id, _lastUpdated ...) narrow the
//     candidates first, through the store, exactly as the same search
//     without the custom parameters would; _summary, _elements and
//     _total apply as to any search; _sort, _include and _revinclude are
//     refused, as is any parameter the server does not know (the
//     gateway's search parsing);
//   - _explain=true adds an OperationOutcome entry (search.mode outcome)
//     with one issue per reason each other candidate was excluded and per
//     note on the listed matches, in the shape of $match's outcome.

// ExplainParam asks a matching search to say why the other candidates
// were excluded.
const ExplainParam = "_explain"

// cursorParam is the search's page token.
const cursorParam = "_cursor"

// SearchRequest is a parsed matching search.
type SearchRequest struct {
	// Own are the custom parameters and controls as sent.
	Own url.Values
	// Query is the ordinary part (its Params may be empty).
	Query *search.Query
	// Cursor is the page token (_cursor), Count the page size, Total
	// whether the total is asked for.
	Cursor string
	Count  int
	Total  bool
	// Understood are the parameters the links repeat.
	Understood url.Values
	// Subset trims an entry for _summary and _elements (nil: whole).
	Subset func(typ string, body []byte, match bool) ([]byte, error)
	// MaxCount is the page size the store is read with when the ordinary
	// parameters narrow the candidates.
	MaxCount int
}

// Search answers a matching search on tx (the caller's tenancy, and a
// transaction's own writes); base is the FHIR base as the client sees it.
func (dir *Service) Search(ctx context.Context, tx store.Tx, base string, sr SearchRequest) ([]byte, error) {
	q, explain, err := dir.searchQuery(sr.Own)
	if err != nil {
		return nil, err
	}
	q.SkipReasons = !explain
	offset := 0
	if c := sr.Cursor; c != "" {
		n, perr := strconv.Atoi(strings.TrimPrefix(c, "m"))
		if !strings.HasPrefix(c, "m") || perr != nil || n < 0 {
			return nil, fhir.Errorf(fhir.CodeInvalid, "_cursor %q is not a page of this search", c).At(cursorParam).Because(fhir.DetailMalformed)
		}
		offset = n
	}
	snap, err := dir.Cache.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	cands := snap.All()
	if len(sr.Query.Params) > 0 {
		if cands, err = narrow(ctx, tx, snap, sr.Query, sr.MaxCount); err != nil {
			return nil, err
		}
	}
	res := mapping.Match(cands, dir.D, q)
	return dir.searchBundle(base, snap, sr, res, offset, explain)
}

// narrow keeps the candidates the ordinary parameters of q find in the
// store (on tx: the caller's tenancy, and a transaction's own writes).
// service-type alone, the common companion of a matching search, is
// applied to the copy instead, as the store would (byServiceType).
func narrow(ctx context.Context, tx store.Tx, snap *Snapshot, q *search.Query, maxCount int) ([]mapping.Candidate, error) {
	if out, ok := byServiceType(snap.All(), q); ok {
		return out, nil
	}
	plain := &search.Query{Type: q.Type, Params: q.Params, Tenancy: q.Tenancy}
	ids := map[string]bool{}
	page := store.PageRequest{Count: maxCount}
	for {
		res, err := tx.Search(ctx, plain, page)
		if err != nil {
			return nil, err
		}
		for _, v := range res.Matches {
			ids[v.ID] = true
		}
		if res.Next == "" || len(res.Matches) == 0 {
			break
		}
		page.Cursor = res.Next
	}
	out := make([]mapping.Candidate, 0, len(ids))
	for _, c := range snap.All() {
		if ids[c.Service.ID] {
			out = append(out, c)
		}
	}
	return out, nil
}

// searchQuery reads the custom parameters of a matching search into the
// matcher's query; explain is _explain=true.
func (dir *Service) searchQuery(own url.Values) (q mapping.MatchQuery, explain bool, err error) {
	q = mapping.MatchQuery{Holidays: dir.Opts.Holidays}
	bad := func(name, format string, args ...any) error {
		return fhir.Errorf(fhir.CodeInvalid, "search parameter %s: %s", name, fmt.Sprintf(format, args...)).At(name).Because(fhir.DetailMalformed)
	}
	multiple := map[string]bool{ExplainParam: false}
	for _, p := range mapping.MatchSearchParams {
		multiple[p.Code] = p.Multiple
	}
	// values are each parameter's values, comma-separated lists split,
	// empty ones dropped (R4: an empty value is no criterion).
	values := map[string][]string{}
	keys := make([]string, 0, len(own))
	for k := range own {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name, mod, hasMod := strings.Cut(k, ":")
		if hasMod {
			return q, false, bad(name, "takes no modifier (:%s)", mod)
		}
		for _, v := range own[k] {
			for _, part := range strings.Split(v, ",") {
				if part = strings.TrimSpace(part); part != "" {
					values[name] = append(values[name], part)
				}
			}
		}
		if len(values[name]) > 1 && !multiple[name] {
			return q, false, bad(name, "takes one value")
		}
	}
	one := func(name string) string {
		if vs := values[name]; len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	noPrefix := func(name, v string) error {
		if len(v) > 2 && v[0] >= 'a' && v[0] <= 'z' && v[1] >= 'a' && v[1] <= 'z' && (v[2] >= '0' && v[2] <= '9') {
			if v[:2] != "eq" {
				return bad(name, "takes no prefix (%s)", v[:2])
			}
		}
		return nil
	}
	// token reads [system]|code, the system being empty or, when given,
	// the one system allowed.
	token := func(name, v, system string) (string, error) {
		sys, code, ok := strings.Cut(v, "|")
		if !ok {
			return v, nil
		}
		if sys != "" && system != "" && sys != system {
			return "", bad(name, "system %q is not %s", sys, system)
		}
		if code == "" {
			return "", bad(name, "%q has no code", v)
		}
		return code, nil
	}
	switch v := one(ExplainParam); v {
	case "", "false":
	case "true":
		explain = true
	default:
		return q, false, bad(ExplainParam, "%q is not true or false", v)
	}
	if v := one(mapping.SearchEligibleBirthdate); v != "" {
		if err := noPrefix(mapping.SearchEligibleBirthdate, v); err != nil {
			return q, false, err
		}
		v = strings.TrimPrefix(v, "eq")
		if q.BirthDate, err = time.ParseInLocation("2006-01-02", v, mapping.London); err != nil {
			return q, false, bad(mapping.SearchEligibleBirthdate, "%q is not a date (YYYY-MM-DD)", v)
		}
		if q.BirthDate.After(dir.Opts.Now()) {
			return q, false, bad(mapping.SearchEligibleBirthdate, "%s is in the future", v)
		}
	}
	if v := one(mapping.SearchEligibleAge); v != "" {
		if err := noPrefix(mapping.SearchEligibleAge, v); err != nil {
			return q, false, err
		}
		v = strings.TrimPrefix(v, "eq")
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 || n > 150 {
			return q, false, bad(mapping.SearchEligibleAge, "%q is not an age in whole years (0 to 150)", v)
		}
		q.AgeYears, q.HasAge = n, true
	}
	if v := one(mapping.SearchEligibleSex); v != "" {
		code, err := token(mapping.SearchEligibleSex, v, mapping.GenderSystem)
		if err != nil {
			return q, false, err
		}
		switch code {
		case "male", "female", "other":
			q.Sex = code
		case "unknown":
		default:
			return q, false, bad(mapping.SearchEligibleSex, "%q is not an administrative-gender code (male, female, other, unknown)", code)
		}
	}
	if v := one(mapping.SearchEligibleNeedGroup); v != "" {
		code, err := token(mapping.SearchEligibleNeedGroup, v, dir.D.CodeSystem(snomed.PatientNeedGroup))
		if err != nil {
			return q, false, err
		}
		if n, perr := strconv.Atoi(code); perr != nil || n < 1 || n > 11 || strconv.Itoa(n) != code {
			return q, false, bad(mapping.SearchEligibleNeedGroup, "%q is not a patient-need-group code (1 to 11)", code)
		}
		q.NeedGroup = code
	}
	if v := one(mapping.SearchEligiblePractice); v != "" {
		code, err := token(mapping.SearchEligiblePractice, v, mapping.ODSSystem)
		if err != nil {
			return q, false, err
		}
		q.Practice = code
	}
	if v := one(mapping.SearchEligiblePostcode); v != "" {
		if _, ok := mapping.PostcodeDistrict(v); !ok {
			return q, false, bad(mapping.SearchEligiblePostcode, "%q is not a UK postcode or postcode district", v)
		}
		q.Postcode = v
	}
	codes := func(name string) []mapping.Code {
		var out []mapping.Code
		for _, v := range values[name] {
			c := mapping.Code{Code: v}
			if sys, code, ok := strings.Cut(v, "|"); ok {
				c = mapping.Code{System: sys, Code: code}
			}
			out = append(out, c)
		}
		return out
	}
	for _, name := range []string{mapping.SearchEligibleCondition, mapping.SearchCommunicationNeed, mapping.SearchReferralMethod} {
		for _, c := range codes(name) {
			if c.Code == "" {
				return q, false, bad(name, "%s| has no code", c.System)
			}
		}
	}
	q.Conditions = codes(mapping.SearchEligibleCondition)
	q.CommunicationNeeds = codes(mapping.SearchCommunicationNeed)
	methodSystem := dir.D.CodeSystem(mapping.ReferralMethodSystem)
	for _, c := range codes(mapping.SearchReferralMethod) {
		if c.System != "" && c.System != methodSystem {
			return q, false, bad(mapping.SearchReferralMethod, "system %q is not %s", c.System, methodSystem)
		}
		if !mapping.IsReferralMethod(c.Code) {
			return q, false, bad(mapping.SearchReferralMethod, "%q is not a directory-referral-method code", c.Code)
		}
		q.ReferralMethods = append(q.ReferralMethods, c.Code)
	}
	if v := one(mapping.SearchAccepting); v != "" {
		if code, err := token(mapping.SearchAccepting, v, ""); err != nil {
			return q, false, err
		} else if code != "true" {
			return q, false, bad(mapping.SearchAccepting, "only true is served: a matching search answers only services accepting referrals (use _explain=true to see the others and why)")
		}
	}
	window := map[string]string{}
	for _, name := range []string{mapping.SearchAvailableFrom, mapping.SearchAvailableTo} {
		v := one(name)
		if v != "" {
			if err := noPrefix(name, v); err != nil {
				return q, false, err
			}
		}
		window[name] = v
	}
	if q.From, q.To, err = MatchWindow(dir.Opts.Now(), "eq", mapping.SearchAvailableFrom, window[mapping.SearchAvailableFrom],
		mapping.SearchAvailableTo, window[mapping.SearchAvailableTo], bad); err != nil {
		return q, false, err
	}
	if q.To.Sub(q.From) > dir.Opts.MaxWindow {
		return q, false, bad(mapping.SearchAvailableTo, "the window is longer than %d days", int(dir.Opts.MaxWindow.Hours()/24))
	}
	return q, explain, nil
}

// searchBundle renders a page of a matching search: the stored bytes of
// each match (or their subset), written by hand as $match's are.
func (dir *Service) searchBundle(base string, snap *Snapshot, sr SearchRequest, res mapping.MatchResult, offset int, explain bool) ([]byte, error) {
	count := sr.Count
	start := min(offset, len(res.Matches))
	shown := res.Matches[start:min(start+count, len(res.Matches))]
	link := func(rel string, at int) string {
		v := url.Values{}
		for k, vs := range sr.Understood {
			v[k] = vs
		}
		if at > 0 {
			v.Set(cursorParam, "m"+strconv.Itoa(at))
		}
		u, _ := json.Marshal(base + "/HealthcareService?" + v.Encode())
		return `{"relation":"` + rel + `","url":` + string(u) + `}`
	}
	size := 512
	if explain {
		size += OutcomeSize(res, shown)
	}
	for _, m := range shown {
		size += len(snap.Body(m.Service)) + len(base) + 96
	}
	b := bytes.NewBuffer(make([]byte, 0, size))
	b.WriteString(`{"resourceType":"Bundle","type":"searchset"`)
	if sr.Total {
		fmt.Fprintf(b, `,"total":%d`, len(res.Matches))
	}
	b.WriteString(`,"link":[`)
	b.WriteString(link("self", offset))
	if count > 0 && start+count < len(res.Matches) {
		b.WriteString(",")
		b.WriteString(link("next", start+count))
	}
	if count > 0 && start > 0 {
		b.WriteString(",")
		b.WriteString(link("previous", max(0, start-count)))
	}
	b.WriteString(`]`)
	sep := `,"entry":[`
	for _, m := range shown {
		body := snap.Body(m.Service)
		if sr.Subset != nil {
			var err error
			if body, err = sr.Subset("HealthcareService", body, true); err != nil {
				return nil, fmt.Errorf("subset HealthcareService/%s: %w", m.Service.ID, err)
			}
		}
		b.WriteString(sep)
		sep = ","
		u, _ := json.Marshal(base + "/HealthcareService/" + m.Service.ID)
		fmt.Fprintf(b, `{"fullUrl":%s,"resource":`, u)
		b.Write(body)
		fmt.Fprintf(b, `,"search":{"mode":"match","score":%s}}`, strconv.FormatFloat(m.Score, 'f', -1, 64))
	}
	if explain {
		b.WriteString(sep)
		sep = ","
		b.WriteString(`{"resource":`)
		WriteOutcome(b, dir.D, res, shown)
		b.WriteString(`,"search":{"mode":"outcome"}}`)
	}
	if sep == "," {
		b.WriteString(`]`)
	}
	b.WriteString(`}`)
	return b.Bytes(), nil
}

// byServiceType applies q when it holds only service-type parameters
// without modifiers: each parameter must match (AND), by any of its
// values (OR), a coding of HealthcareService.type as R4's token search
// reads it — code (any system), system|code, |code (no system) or
// system| (any code of the system). ok is false for any other query.
func byServiceType(cands []mapping.Candidate, q *search.Query) (out []mapping.Candidate, ok bool) {
	for _, p := range q.Params {
		if p.Name != "service-type" || p.Def == nil || p.Modifier != "" || p.Chain != nil || p.Has != nil || len(p.Values) == 0 {
			return nil, false
		}
		for _, v := range p.Values {
			if v.Missing || v.TypeSystem != "" || v.TypeCode != "" {
				return nil, false
			}
		}
	}
	has := func(s *mapping.Service, v search.Value) bool {
		for _, c := range s.TypeCodings {
			switch {
			case !v.SystemGiven:
				if c.Code == v.Code {
					return true
				}
			case v.Code == "":
				if c.System == v.System {
					return true
				}
			default:
				if c.System == v.System && c.Code == v.Code {
					return true
				}
			}
		}
		return false
	}
	out = make([]mapping.Candidate, 0, len(cands)/4)
next:
	for _, c := range cands {
		for _, p := range q.Params {
			found := false
			for _, v := range p.Values {
				if has(c.Service, v) {
					found = true
					break
				}
			}
			if !found {
				continue next
			}
		}
		out = append(out, c)
	}
	return out, true
}
