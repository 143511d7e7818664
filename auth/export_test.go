package auth

// Test hooks for the verification cache (compiled into tests only).

// SignatureChecks is how many tokens reached the signature check, i.e.
// were verified in full rather than answered from the cache.
func (v *Verifier) SignatureChecks() int64 { return v.sigChecks.Load() }

// CachedTokens is the number of cache entries, expired ones included.
func (v *Verifier) CachedTokens() int { return v.cache.len() }

// SetCacheMax empties the cache and bounds it to n tokens; n <= 0 turns
// caching off.
func (v *Verifier) SetCacheMax(n int) { v.cache.reset(n) }

// VerifyCacheMax and VerifyCacheTTL are the cache's bounds.
const (
	VerifyCacheMax = verifyCacheMax
	VerifyCacheTTL = verifyCacheTTL
)
