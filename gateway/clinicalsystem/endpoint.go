package clinicalsystem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// ODSSystem is the identifier system of ODS organisation codes.
const ODSSystem = "https://fhir.nhs.uk/Id/ods-organization-code"

// Endpoint is where one practice's clinical system listens.
type Endpoint struct {
	// ID is the Endpoint resource's id (for logs).
	ID string
	// Address is the FHIR base the Bundle is POSTed to.
	Address string
	// Headers are Endpoint.header entries, "Name: value" (an
	// Authorization: Bearer header among them); they are secrets, so
	// never logged.
	Headers [][2]string
}

// errNoEndpoint is permanent: retrying will not make an Endpoint appear;
// the dead letter is requeued once one exists.
type errNoEndpoint struct{ msg string }

func (e *errNoEndpoint) Error() string { return e.msg }

// EndpointFor finds the Endpoint of the practice with ODS code ods. A
// missing Organization or Endpoint is an *errNoEndpoint; a store failure
// is returned as it is (transient).
func EndpointFor(ctx context.Context, st store.Tx, ods string) (Endpoint, error) {
	q, err := search.ParseQuery("Organization", url.Values{"identifier": {ODSSystem + "|" + ods}}, true)
	if err != nil {
		return Endpoint{}, err
	}
	page, err := st.Search(ctx, q, store.PageRequest{Count: 2})
	if err != nil {
		return Endpoint{}, err
	}
	if len(page.Matches) == 0 {
		return Endpoint{}, &errNoEndpoint{"no endpoint: no Organization with ODS code " + ods}
	}
	if len(page.Matches) > 1 {
		// An ODS code names one Organization (the gateway refuses a
		// second); should two be stored, either may be an impostor's, so
		// patient data goes to neither.
		return Endpoint{}, &errNoEndpoint{fmt.Sprintf("not sent: more than one Organization carries ODS code %s, so the practice's clinical system is ambiguous; keep one, then redeliver", ods)}
	}
	var org struct {
		Endpoint []struct {
			Reference string `json:"reference"`
		} `json:"endpoint"`
	}
	if err := json.Unmarshal(page.Matches[0].Body, &org); err != nil {
		return Endpoint{}, err
	}
	for _, ref := range org.Endpoint {
		typ, id, ok := strings.Cut(ref.Reference, "/")
		if !ok || typ != "Endpoint" || strings.Contains(id, "/") {
			continue
		}
		v, err := st.Read(ctx, "Endpoint", id)
		if errors.Is(err, fhir.ErrNotFound) || errors.Is(err, fhir.ErrDeleted) {
			continue
		}
		if err != nil {
			return Endpoint{}, err
		}
		var e struct {
			Status         string `json:"status"`
			ConnectionType struct {
				Code string `json:"code"`
			} `json:"connectionType"`
			Address string   `json:"address"`
			Header  []string `json:"header"`
		}
		if err := json.Unmarshal(v.Body, &e); err != nil {
			return Endpoint{}, err
		}
		if e.Status != "active" || e.Address == "" || (e.ConnectionType.Code != "" && e.ConnectionType.Code != "hl7-fhir-rest") {
			continue
		}
		out := Endpoint{ID: id, Address: strings.TrimRight(e.Address, "/")}
		for _, h := range e.Header {
			name, value, ok := strings.Cut(h, ":")
			if ok && strings.TrimSpace(name) != "" {
				out.Headers = append(out.Headers, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
			}
		}
		return out, nil
	}
	return Endpoint{}, &errNoEndpoint{fmt.Sprintf("no endpoint: the Organization with ODS code %s lists no active FHIR REST Endpoint", ods)}
}

// endpointCache keeps a worker's Endpoint lookups for one claimed batch
// (Config.Batch deliveries, usually well under a second: an edited
// Endpoint applies from the next batch). Failures of the store are not
// kept: they are retried.
type endpointCache map[string]endpointLookup

type endpointLookup struct {
	ep  Endpoint
	err error
}

func (c endpointCache) lookup(ctx context.Context, st store.Tx, ods string) (Endpoint, error) {
	if l, ok := c[ods]; ok {
		return l.ep, l.err
	}
	ep, err := EndpointFor(ctx, st, ods)
	var none *errNoEndpoint
	if err == nil || errors.As(err, &none) {
		c[ods] = endpointLookup{ep, err}
	}
	return ep, err
}
