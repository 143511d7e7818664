package carerecord

import (
	"context"
	"encoding/json"
	"errors"
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
	// fetching is the grant under way, if any: callers that find no
	// valid token wait for it (or for their own context) rather than
	// each asking the token endpoint, and the lock is never held across
	// the HTTP call.
	fetching *tokenFetch
}

// tokenFetch is one grant under way; done closes when it has ended.
type tokenFetch struct {
	done  chan struct{}
	token string
	err   error
}

// expiryMargin is how long before its expiry a cached token is renewed, so
// that it does not expire on its way to the record.
const expiryMargin = 30 * time.Second

func (ts *tokenSource) Token(ctx context.Context) (string, error) {
	if ts.static != "" || ts.tokenURL == "" {
		return ts.static, nil
	}
	for {
		ts.mu.Lock()
		if ts.token != "" && ts.now().Before(ts.expires) {
			tok := ts.token
			ts.mu.Unlock()
			return tok, nil
		}
		f := ts.fetching
		if f == nil {
			// This caller asks, within its own deadline; the others wait.
			f = &tokenFetch{done: make(chan struct{})}
			ts.fetching = f
			ts.mu.Unlock()
			tok, life, err := ts.grant(ctx)
			ts.mu.Lock()
			if err == nil {
				ts.token = tok
				ts.expires = ts.now().Add(life - min(expiryMargin, life/2))
			}
			ts.fetching = nil
			ts.mu.Unlock()
			f.token, f.err = tok, err
			close(f.done)
			return tok, err
		}
		ts.mu.Unlock()
		select {
		case <-f.done:
			if f.err == nil {
				return f.token, nil
			}
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			// The grant failed for the caller that asked (its deadline
			// perhaps); ask again within this caller's own.
			if errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded) {
				continue
			}
			return "", f.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// grant asks the token endpoint for a token (client credentials) and
// returns it with its lifetime.
func (ts *tokenSource) grant(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if ts.scope != "" {
		form.Set("scope", ts.scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(ts.clientID), url.QueryEscape(ts.clientSecret))
	resp, err := ts.http.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("token endpoint: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, &statusError{what: "token endpoint", status: resp.StatusCode}
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", 0, fmt.Errorf("token endpoint: the answer holds no access_token")
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return "", 0, fmt.Errorf("token endpoint: token type %q is not bearer", tr.TokenType)
	}
	life := time.Hour // RFC 6749 5.1: expires_in is recommended, not required
	var secs float64
	if len(tr.ExpiresIn) > 0 {
		s := strings.Trim(string(tr.ExpiresIn), `"`)
		if _, err := fmt.Sscan(s, &secs); err == nil && secs > 0 {
			life = time.Duration(secs * float64(time.Second))
		}
	}
	return tr.AccessToken, life, nil
}

// forget drops the cached token after the record refused it (401), so the
// next call fetches a new one.
func (ts *tokenSource) forget() {
	ts.mu.Lock()
	ts.token = ""
	ts.mu.Unlock()
}
