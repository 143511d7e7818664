package sealed

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

const prefix = "sealed:v1:"

var enc = base64.RawStdEncoding

// Box seals and opens values with one key.
type Box struct {
	aead cipher.AEAD
}

// New is a Box for a KeySize-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sealed: a key is %d bytes, not %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// IsSealed reports whether v is a sealed value.
func IsSealed(v string) bool { return strings.HasPrefix(v, prefix) }

// Seal encrypts v; a value already sealed is returned as it is.
func (b *Box) Seal(v string) string {
	if IsSealed(v) {
		return v
	}
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("sealed: no randomness: " + err.Error()) // crypto/rand never fails on supported platforms
	}
	return prefix + enc.EncodeToString(b.aead.Seal(nonce, nonce, []byte(v), nil))
}

// ErrOpen is a sealed value this key cannot open (another key, or
// altered).
var ErrOpen = errors.New("sealed: the value cannot be opened with this key (sealed with another key, or altered)")

// Open decrypts a sealed value; a value that is not sealed (written
// before sealing began) is returned as it is.
func (b *Box) Open(v string) (string, error) {
	if !IsSealed(v) {
		return v, nil
	}
	raw, err := enc.DecodeString(strings.TrimPrefix(v, prefix))
	n := b.aead.NonceSize()
	if err != nil || len(raw) < n+b.aead.Overhead() {
		return "", ErrOpen
	}
	out, err := b.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return "", ErrOpen
	}
	return string(out), nil
}

// ParseKey reads a key as configured: the base64 (standard or URL,
// padded or not) or hex of KeySize bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, e := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := e.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	if k, err := hex.DecodeString(s); err == nil && len(k) == KeySize {
		return k, nil
	}
	return nil, fmt.Errorf("the key must be %d random bytes, as base64 or hex (for example: openssl rand -base64 32)", KeySize)
}

// KeyStore keeps named keys: SecretKey returns the key stored under
// name, storing fresh first when there is none (atomically: of two
// callers racing, both get the one stored).
type KeyStore interface {
	SecretKey(ctx context.Context, name string, fresh []byte) ([]byte, error)
}

// Source gives the Box once its key is known: at once for a configured
// key, on first use for a store's.
type Source struct {
	mu    sync.Mutex
	box   *Box
	store KeyStore
}

// FromKey is a Source with a configured key.
func FromKey(key []byte) (*Source, error) {
	b, err := New(key)
	if err != nil {
		return nil, err
	}
	return &Source{box: b}, nil
}

// FromStore is a Source whose key is the store's "headers" key, generated
// on first use. A failure to read it is retried on the next use.
func FromStore(ks KeyStore) *Source { return &Source{store: ks} }

// Box is the Source's Box.
func (s *Source) Box(ctx context.Context) (*Box, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.box != nil {
		return s.box, nil
	}
	fresh := make([]byte, KeySize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	key, err := s.store.SecretKey(ctx, "headers", fresh)
	if err != nil {
		return nil, fmt.Errorf("reading the secrets key: %w", err)
	}
	b, err := New(key)
	if err != nil {
		return nil, err
	}
	s.box = b
	return b, nil
}

// Configured reports whether the key is the operator's rather than the
// store's.
func (s *Source) Configured() bool { return s.store == nil }
