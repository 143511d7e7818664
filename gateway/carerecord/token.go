package carerecord

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// tokenSource gives the bearer token of the record's calls: a static one,
// or one from an OAuth2 client-credentials grant, cached until shortly
// before it expires.
//
// golang.org/x/oauth2/clientcredentials would do the grant, but its token
// source fetches with the context it was built with, not the lookup's, so
// the lookup's deadline would not bound the token call; and it reads the
// wall clock, which the tests replace.
type tokenSource struct {
	static                                  string
	tokenURL, clientID, clientSecret, scope string
	http                                    *http.Client
	now                                     func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// expiryMargin is how long before its expiry a cached token is renewed, so
// that it does not expire on its way to the record.
const expiryMargin = 30 * time.Second

func (ts *tokenSource) Token(ctx context.Context) (string, error) {
	if ts.static != "" || ts.tokenURL == "" {
		return ts.static, nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token != "" && ts.now().Before(ts.expires) {
		return ts.token, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if ts.scope != "" {
		form.Set("scope", ts.scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(ts.clientID), url.QueryEscape(ts.clientSecret))
	resp, err := ts.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", &statusError{what: "token endpoint", status: resp.StatusCode}
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: the answer holds no access_token")
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return "", fmt.Errorf("token endpoint: token type %q is not bearer", tr.TokenType)
	}
	life := time.Hour // RFC 6749 5.1: expires_in is recommended, not required
	var secs float64
	if len(tr.ExpiresIn) > 0 {
		s := strings.Trim(string(tr.ExpiresIn), `"`)
		if _, err := fmt.Sscan(s, &secs); err == nil && secs > 0 {
			life = time.Duration(secs * float64(time.Second))
		}
	}
	ts.token = tr.AccessToken
	ts.expires = ts.now().Add(life - min(expiryMargin, life/2))
	return ts.token, nil
}

// forget drops the cached token after the record refused it (401), so the
// next call fetches a new one.
func (ts *tokenSource) forget() {
	ts.mu.Lock()
	ts.token = ""
	ts.mu.Unlock()
}
