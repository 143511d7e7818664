package subscriptions

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/signpost-fhir/signpost/fhir"
)

// Where rest-hook Subscriptions may send.
//
// A Subscription makes the gateway send requests to the URL in its
// channel.endpoint, from inside the deployment's network: without a
// limit, any client allowed to write a Subscription could make it call
// internal services or cloud metadata addresses (server-side request
// forgery). So a Subscription's endpoint must be on the gateway's
// allow-list, checked on every write of a Subscription (create, update,
// PATCH, transaction and batch entries: a refusal is a 422 whose issue's
// expression is Subscription.channel.endpoint, and nothing is stored), and
// again when a write would notify it (one stored before the list changed
// is skipped, with a warning in the log), and by the delivery workers
// before each send (clinicalsystem.Config.AllowSubscriptionEndpoint: a
// notification queued before the list changed is dead-lettered, not
// sent).
//
// The list is Endpoints, set with the gateway's SetSubscriptionEndpoints;
// without it, loopback URLs only. cmd/signpost sets it from
// SIGNPOST_SUBSCRIPTION_ENDPOINTS: when that is unset, loopback URLs in
// development mode and none with a token issuer.

// Endpoints is an allow-list of rest-hook endpoints: URL
// prefixes, each an origin (scheme, host, port) and optionally a path.
// The zero value allows nothing.
type Endpoints struct {
	prefixes []endpointPrefix
	// loopback allows any http(s) URL on a loopback host.
	loopback bool
}

type endpointPrefix struct {
	scheme, host, port, path string
}

// LoopbackEndpoints allows any http or https URL whose host is
// localhost or a loopback IP (development mode's default).
func LoopbackEndpoints() Endpoints {
	return Endpoints{loopback: true}
}

// ParseEndpoints reads an allow-list of URL prefixes
// separated by commas, e.g.
// "https://hooks.example.org/signpost,https://record.example.nhs.uk".
// Each must be an absolute URL without user, query or fragment; https
// unless its host is loopback. A prefix with a path allows that path and
// those below it (segment by segment: /hooks allows /hooks/a, not
// /hooksmith); without one, the whole origin.
func ParseEndpoints(list string) (Endpoints, error) {
	var e Endpoints
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" {
			return Endpoints{}, fmt.Errorf("%q is not an absolute http(s) URL", raw)
		}
		if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			// Redacted: never echo a password.
			return Endpoints{}, fmt.Errorf("%q: a prefix has no user, query or fragment", u.Redacted())
		}
		if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
			return Endpoints{}, fmt.Errorf("%q: https is required (plain http only on loopback)", raw)
		}
		e.prefixes = append(e.prefixes, endpointPrefix{scheme: u.Scheme, host: strings.ToLower(u.Hostname()), port: portOf(u),
			path: strings.TrimRight(u.EscapedPath(), "/")})
	}
	return e, nil
}

// Allows reports whether endpoint is on the list.
func (e Endpoints) Allows(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return false
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return false // /allowed/../elsewhere
		}
	}
	host := strings.ToLower(u.Hostname())
	if e.loopback && loopbackHost(host) {
		return true
	}
	path := u.EscapedPath()
	for _, p := range e.prefixes {
		if u.Scheme == p.scheme && host == p.host && portOf(u) == p.port &&
			(p.path == "" || path == p.path || strings.HasPrefix(path, p.path+"/")) {
			return true
		}
	}
	return false
}

// String lists the prefixes (for the start-up log).
func (e Endpoints) String() string {
	var out []string
	if e.loopback {
		out = append(out, "loopback")
	}
	for _, p := range e.prefixes {
		host := p.host
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		out = append(out, p.scheme+"://"+host+":"+p.port+p.path)
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// loopbackHost: localhost (and names under it) or a loopback IP.
func loopbackHost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Check is the write check of the allow-list on Subscription r: an issue
// at Subscription.channel.endpoint when e does not allow its endpoint.
func (e Endpoints) Check(r *fhir.Resource) []fhir.Issue {
	ch, _ := r.Object()["channel"].(map[string]any)
	endpoint, _ := ch["endpoint"].(string)
	if e.Allows(endpoint) {
		return nil
	}
	return []fhir.Issue{{Severity: fhir.SeverityError, Code: fhir.CodeBusinessRule, Expression: []string{"Subscription.channel.endpoint"},
		Diagnostics: "Subscription.channel.endpoint is not an endpoint this gateway may notify: its operator allows a list of URLs for rest-hook Subscriptions"}}
}
