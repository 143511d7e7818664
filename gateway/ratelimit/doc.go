// Package ratelimit owns the gateway's per-client rate limiting: a token
// bucket (golang.org/x/time/rate) per client key, with idle buckets
// dropped so memory stays bounded by the number of recent clients. It
// knows nothing of HTTP: the gateway picks the key (client id or IP
// address) and answers 429 with Retry-After.
package ratelimit
