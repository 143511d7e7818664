package auth

import (
	"crypto/sha256"
	"maps"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Bounds of the verification cache (see Verifier).
const (
	// verifyCacheMax is the most tokens the cache holds.
	verifyCacheMax = 10_000
	// verifyCacheTTL is the longest a verification is reused: a key the
	// issuer withdrew, or a configuration change, reaches cached tokens
	// within this time.
	verifyCacheTTL = 5 * time.Minute
)

// tokenKey is the SHA-256 of a (trimmed) token: the cache never holds the
// token itself.
type tokenKey [sha256.Size]byte

// verifyCache remembers the Principals of tokens that verified, so a token
// seen again is not parsed and signature-checked again. Only successes are
// stored. It is safe for concurrent use.
type verifyCache struct {
	mu      sync.RWMutex
	max     int // no caching when <= 0
	entries map[tokenKey]cacheEntry
}

type cacheEntry struct {
	// p is the cache's own copy; callers get clones.
	p *Principal
	// verifiedAt is when the token was fully verified; an entry is not
	// used by a clock that reads earlier (nbf and iat were checked
	// against verifiedAt, not against any earlier time).
	verifiedAt time.Time
	// until is the earlier of the token's exp and verifiedAt plus
	// verifyCacheTTL; the entry is not used from then on.
	until time.Time
}

func newVerifyCache(max int) *verifyCache {
	return &verifyCache{max: max, entries: map[tokenKey]cacheEntry{}}
}

func hashToken(raw string) tokenKey { return sha256.Sum256([]byte(raw)) }

// get returns a copy of the Principal cached for key if the entry may be
// used at now.
func (c *verifyCache) get(key tokenKey, now time.Time) (*Principal, bool) {
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || now.Before(e.verifiedAt) || !now.Before(e.until) {
		return nil, false
	}
	return e.p.clone(), true
}

// put caches a copy of p, verified at now, for the earlier of its expiry
// and now plus verifyCacheTTL. A Principal without an expiry is not
// cached. When the cache is full, expired entries are dropped first and,
// if that frees nothing, every entry.
func (c *verifyCache) put(key tokenKey, p *Principal, now time.Time) {
	if p == nil || p.Expiry.IsZero() {
		return
	}
	until := now.Add(verifyCacheTTL)
	if p.Expiry.Before(until) {
		until = p.Expiry
	}
	if !now.Before(until) {
		return
	}
	e := cacheEntry{p: p.clone(), verifiedAt: now, until: until}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max <= 0 {
		return
	}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		maps.DeleteFunc(c.entries, func(_ tokenKey, e cacheEntry) bool { return !now.Before(e.until) })
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[key] = e
}

// clear drops every entry.
func (c *verifyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// reset empties the cache and sets its bound (tests).
func (c *verifyCache) reset(max int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.max = max
	clear(c.entries)
}

// len is the number of entries, expired ones included.
func (c *verifyCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// clone is a deep copy of p: nothing the copy points to is shared with p,
// so a caller that changes its Principal cannot change another request's.
func (p *Principal) clone() *Principal {
	if p == nil {
		return nil
	}
	q := *p
	if p.Scopes != nil {
		q.Scopes = make([]Scope, len(p.Scopes))
		for i, s := range p.Scopes {
			if s.Query != nil {
				s.Query = cloneValues(s.Query)
			}
			q.Scopes[i] = s
		}
	}
	q.OtherScopes = slices.Clone(p.OtherScopes)
	q.ODS = slices.Clone(p.ODS)
	q.Roles = slices.Clone(p.Roles)
	q.Publisher.Organizations = slices.Clone(p.Publisher.Organizations)
	q.Publisher.IdentifierSystems = slices.Clone(p.Publisher.IdentifierSystems)
	return &q
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
