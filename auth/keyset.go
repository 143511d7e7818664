package auth

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// keySet is the oidc.KeySet of one issuer: its JWKS, fetched over HTTP and
// cached. It replaces go-oidc's RemoteKeySet for three reasons:
//
//   - RemoteKeySet fetches the JWKS again for every token whose kid it does
//     not know, so forged kids turn into requests to the issuer at the rate
//     they arrive; here an unknown kid causes a fetch only when the last
//     one is older than KeyRefreshInterval;
//   - RemoteKeySet keeps a key until a new kid shows up, so a retired key
//     verifies tokens indefinitely; here keys are fetched again after
//     KeyMaxAge (and the old ones kept if that fetch fails);
//   - its errors are flattened into strings, while Verify needs to tell
//     "unknown key" (401) from "signature does not verify" (401) from "the
//     issuer cannot be reached" (503), and say which.
//
// go-oidc still parses the token, enforces the algorithms and checks the
// issuer and audience; this type only finds the key and checks the
// signature.
type keySet struct {
	url        string
	client     *http.Client
	now        func() time.Time
	minRefresh time.Duration
	maxAge     time.Duration
	algs       []jose.SignatureAlgorithm
	log        *slog.Logger
	// onKeyRemoved, if set, is called after a fetch that no longer has a
	// key the previous fetch had (the Verifier drops its token cache).
	onKeyRemoved func()

	// sem serialises fetches (a one-slot semaphore, so waiting honours
	// the request's context). lastFetch is guarded by it.
	sem       chan struct{}
	lastFetch time.Time
	cache     atomic.Pointer[cachedKeys]
}

var _ oidc.KeySet = (*keySet)(nil)

type cachedKeys struct {
	keys    []jose.JSONWebKey
	fetched time.Time
}

// The key set's failures; Verify turns them into reasons.
var (
	errUnknownKey      = errors.New("no published key matches the token's kid")
	errBadSignature    = errors.New("the signature does not verify")
	errKeysUnavailable = errors.New("the issuer's key set could not be fetched")
	errRefreshTooSoon  = errors.New("key set fetched too recently to fetch again")
)

// keyErr carries the key set's failure past go-oidc, which flattens it.
type keyErr struct{ err error }

type keyErrKey struct{}

func newKeySet(url string, cfg Config, algs []jose.SignatureAlgorithm) *keySet {
	return &keySet{
		url:        url,
		client:     cfg.HTTPClient,
		now:        cfg.Now,
		minRefresh: cfg.KeyRefreshInterval,
		maxAge:     cfg.KeyMaxAge,
		algs:       algs,
		log:        cfg.Logger,
		sem:        make(chan struct{}, 1),
	}
}

// VerifySignature implements oidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	payload, err := k.verify(ctx, raw)
	if err != nil {
		if h, ok := ctx.Value(keyErrKey{}).(*keyErr); ok {
			h.err = err
		}
		return nil, err
	}
	return payload, nil
}

func (k *keySet) verify(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, k.algs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errBadSignature
	}
	hdr := jws.Signatures[0].Header

	c := k.cache.Load()
	if c == nil || k.now().Sub(c.fetched) >= k.maxAge {
		fresh, err := k.refresh(ctx, c, false)
		switch {
		case err == nil:
			c = fresh
		case c == nil:
			return nil, err
		}
		// A failed refresh of stale keys keeps them: an issuer outage
		// should not become a Signpost outage.
	}
	payload, found, err := verifyWith(jws, hdr, c.keys)
	if found && (err == nil || hdr.KeyID != "") {
		return payload, err
	}
	// The kid is not (or no longer) in our copy of the JWKS: the issuer
	// may have rotated. Fetch again, at most once per KeyRefreshInterval.
	fresh, err := k.refresh(ctx, c, true)
	if err != nil {
		if errors.Is(err, errRefreshTooSoon) {
			return nil, errUnknownKey
		}
		return nil, err
	}
	payload, found, err = verifyWith(jws, hdr, fresh.keys)
	if !found {
		return nil, errUnknownKey
	}
	return payload, err
}

// verifyWith checks the signature with the keys that match the header's
// kid and alg; found says whether there was any such key.
func verifyWith(jws *jose.JSONWebSignature, hdr jose.Header, keys []jose.JSONWebKey) (payload []byte, found bool, err error) {
	for i := range keys {
		key := &keys[i]
		if hdr.KeyID != "" && key.KeyID != hdr.KeyID {
			continue
		}
		if key.Algorithm != "" && key.Algorithm != hdr.Algorithm {
			continue
		}
		found = true
		if p, err := jws.Verify(key); err == nil {
			return p, true, nil
		}
	}
	if found {
		return nil, true, errBadSignature
	}
	return nil, false, nil
}

// refresh fetches the JWKS unless another caller replaced seen while this
// one waited. limited applies KeyRefreshInterval; unlimited refreshes (the
// first fetch, stale keys) still do not retry a failure within it.
func (k *keySet) refresh(ctx context.Context, seen *cachedKeys, limited bool) (*cachedKeys, error) {
	select {
	case k.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", errKeysUnavailable, ctx.Err())
	}
	defer func() { <-k.sem }()

	if cur := k.cache.Load(); cur != nil && cur != seen {
		return cur, nil
	}
	now := k.now()
	if !k.lastFetch.IsZero() && now.Sub(k.lastFetch) < k.minRefresh {
		switch {
		case seen == nil:
			return nil, fmt.Errorf("%w: the last attempt failed moments ago", errKeysUnavailable)
		case limited:
			return nil, errRefreshTooSoon
		}
		return seen, nil
	}
	k.lastFetch = now
	keys, err := k.fetch(ctx)
	if err != nil {
		k.log.Warn("oidc key set fetch failed", "jwks_uri", k.url, "error", err.Error())
		return nil, fmt.Errorf("%w: %w", errKeysUnavailable, err)
	}
	c := &cachedKeys{keys: keys, fetched: now}
	prev := k.cache.Swap(c)
	if prev != nil && k.onKeyRemoved != nil && keysRemoved(prev.keys, keys) {
		k.onKeyRemoved()
	}
	return c, nil
}

// keysRemoved reports whether a key of old (by its RFC 7638 thumbprint and
// kid) is missing from cur.
func keysRemoved(old, cur []jose.JSONWebKey) bool {
	id := func(key *jose.JSONWebKey) (string, bool) {
		tp, err := key.Thumbprint(crypto.SHA256)
		if err != nil {
			return "", false
		}
		return key.KeyID + "\x00" + string(tp), true
	}
	have := make(map[string]bool, len(cur))
	for i := range cur {
		if s, ok := id(&cur[i]); ok {
			have[s] = true
		}
	}
	for i := range old {
		s, ok := id(&old[i])
		if !ok || !have[s] {
			return true
		}
	}
	return false
}

func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", k.url, resp.Status)
	}
	return parseJWKS(body, k.algs)
}

// parseJWKS keeps the public signing keys Signpost can use and skips the
// rest (other algorithms, encryption keys, key types go-jose does not
// know), as RFC 7517 section 5 asks. A set with no usable key is an error.
func parseJWKS(body []byte, algs []jose.SignatureAlgorithm) ([]jose.JSONWebKey, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("key set does not parse: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, r := range raw.Keys {
		var key jose.JSONWebKey
		if err := json.Unmarshal(r, &key); err != nil || !key.Valid() {
			continue
		}
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		if key.Algorithm != "" && !slices.Contains(algs, jose.SignatureAlgorithm(key.Algorithm)) {
			continue
		}
		if key.IsPublic() {
			keys = append(keys, key)
		} else {
			// An issuer that publishes a private key has a bigger problem,
			// but never verify with more than the public half.
			keys = append(keys, key.Public())
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("key set has no usable signing key")
	}
	return keys, nil
}
