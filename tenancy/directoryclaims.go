package tenancy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/subscriptions"
)

// What a directory entry may claim.
//
// Outcome delivery finds a practice's clinical system through the
// Organization carrying its ODS code (clinicalsystem.EndpointFor). So an
// identifier is a claim: a publisher may write an Organization, Endpoint,
// HealthcareService or Location only when every identifier it carries is
// within the publisher's scope (an ODS code it publishes for, or a value
// in one of its identifier systems), in the version it writes and in the
// version it replaces or deletes. Checking only the owner, or only one
// identifier, let a publisher for one practice pair its own code with
// another's and receive that practice's navigations.
//
// And an ODS code names one Organization: a write of an Organization
// carrying a code another live Organization already carries is refused
// (409, duplicate), whoever writes it. Should the store hold two
// nonetheless (written before this rule, or by two transactions racing),
// delivery does not pick one: it dead-letters (clinicalsystem.EndpointFor).

// entryIdentifier is one identifier of a directory entry.
type entryIdentifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// identifiersOf reads the identifiers of a resource body.
func identifiersOf(body []byte) ([]entryIdentifier, error) {
	var r struct {
		Identifier []entryIdentifier `json:"identifier"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	return r.Identifier, nil
}

// foreignIdentifier names the first identifier of body outside p's
// publisher scope ("" when there is none).
func foreignIdentifier(p *auth.Principal, body []byte) (string, error) {
	ids, err := identifiersOf(body)
	if err != nil {
		return "", err
	}
	for _, id := range ids {
		switch {
		case id.System == ODSSystem:
			if !p.CanPublishODS(id.Value) {
				return "ODS code " + strings.ToUpper(strings.TrimSpace(id.Value)), nil
			}
		case id.System == "":
			if !p.Dev {
				return "an identifier without a system", nil
			}
		case !p.CanPublishSystem(id.System):
			return "an identifier in system " + id.System, nil
		}
	}
	return "", nil
}

// checkIdentifiers refuses a directory entry carrying an identifier
// outside the publisher's scope.
func checkIdentifiers(p *auth.Principal, typ string, body []byte, verb string) error {
	bad, err := foreignIdentifier(p, body)
	if err != nil || bad == "" {
		return err
	}
	return fhir.Errorf(fhir.CodeForbidden, "the publisher scope of the token does not cover %s, which this %s carries: it may not %s it", bad, typ, verb)
}

// claimODS enforces, inside the write's transaction, that no ODS code
// the Organization r carries is carried by another live Organization
// (duplicate: 409). Each code is locked first (sorted, so two writers
// never wait on each other in a cycle), and the search runs on the same
// transaction: of two writers racing to claim one code, the second sees
// the first's Organization once the first commits, and is refused. On
// the embedded store the single writer serialises them anyway.
func (t *Tx) claimODS(ctx context.Context, r *fhir.Resource) error {
	if r.Type() != "Organization" || t.g.opts.ClaimODS == nil || !t.g.opts.ClaimODS() {
		return nil
	}
	body, err := r.MarshalJSON()
	if err != nil {
		return err
	}
	ids, err := identifiersOf(body)
	if err != nil {
		return err
	}
	var codes []string
	for _, id := range ids {
		code := strings.ToUpper(strings.TrimSpace(id.Value))
		if id.System == ODSSystem && code != "" && !slices.Contains(codes, code) {
			codes = append(codes, code)
		}
	}
	slices.Sort(codes)
	for _, code := range codes {
		if err := t.tx.Lock(ctx, "organization-ods|"+code); err != nil {
			return err
		}
	}
	for _, code := range codes {
		q, err := search.ParseQuery("Organization", url.Values{"identifier": {ODSSystem + "|" + code}}, true)
		if err != nil {
			return err
		}
		page, err := t.tx.Search(ctx, q, store.PageRequest{Count: 2})
		if err != nil {
			return err
		}
		for _, m := range page.Matches {
			if m.ID != r.ID() {
				// Not naming the other Organization: the caller may not see it.
				return fhir.Errorf(fhir.CodeDuplicate, "another Organization already carries ODS code %s: an ODS code names one Organization (the practice's delivery target)", code)
			}
		}
	}
	return nil
}

// EndpointAddressIssues is the Endpoint write check of the outbound
// allow-list: an Endpoint the gateway could call (an http(s) address, or
// a FHIR REST connection) must have an address on allowed, the list set
// with setting. Addresses the gateway never calls (mailto:, other
// connection types) are directory data.
func EndpointAddressIssues(r *fhir.Resource, allowed subscriptions.Endpoints, setting string) []fhir.Issue {
	obj := r.Object()
	address, _ := obj["address"].(string)
	ct, _ := obj["connectionType"].(map[string]any)
	code, _ := ct["code"].(string)
	scheme, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(address)), ":")
	callable := code == "" || code == "hl7-fhir-rest" || scheme == "http" || scheme == "https" || strings.HasPrefix(strings.TrimSpace(address), "//")
	if !callable || allowed.Allows(address) {
		return nil
	}
	return []fhir.Issue{{Severity: fhir.SeverityError, Code: fhir.CodeBusinessRule, Expression: []string{"Endpoint.address"},
		Diagnostics: fmt.Sprintf("Endpoint.address is not an address this gateway may call: its operator allows a list of URLs (%s)", setting)}}
}
