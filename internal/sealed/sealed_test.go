package sealed

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSealOpen(t *testing.T) {
	b, err := New(bytes.Repeat([]byte{7}, KeySize))
	require.NoError(t, err)
	s := b.Seal("Bearer secret-token")
	assert.True(t, IsSealed(s))
	assert.NotContains(t, s, "secret-token")
	assert.NotEqual(t, s, b.Seal("Bearer secret-token"), "a fresh nonce each time")
	assert.Equal(t, s, b.Seal(s), "sealing twice")
	got, err := b.Open(s)
	require.NoError(t, err)
	assert.Equal(t, "Bearer secret-token", got)
	plain, err := b.Open("Bearer old")
	require.NoError(t, err)
	assert.Equal(t, "Bearer old", plain, "a value from before sealing")

	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	_, err = other.Open(s)
	assert.ErrorIs(t, err, ErrOpen)
	_, err = b.Open(s[:len(s)-2] + "AA")
	assert.ErrorIs(t, err, ErrOpen)
	_, err = b.Open(prefix + "!!")
	assert.ErrorIs(t, err, ErrOpen)
	_, err = New([]byte("short"))
	assert.Error(t, err)
}

func TestParseKey(t *testing.T) {
	k := bytes.Repeat([]byte{0xab}, KeySize)
	for _, s := range []string{base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k), hex.EncodeToString(k), " " + hex.EncodeToString(k) + "\n"} {
		got, err := ParseKey(s)
		require.NoError(t, err, s)
		assert.Equal(t, k, got)
	}
	for _, s := range []string{"", "abc", base64.StdEncoding.EncodeToString(k[:16])} {
		_, err := ParseKey(s)
		assert.Error(t, err, s)
	}
}

type memKeys struct {
	mu   sync.Mutex
	keys map[string][]byte
	errs int
}

func (m *memKeys) SecretKey(_ context.Context, name string, fresh []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.errs > 0 {
		m.errs--
		return nil, assert.AnError
	}
	if k, ok := m.keys[name]; ok {
		return k, nil
	}
	m.keys[name] = fresh
	return fresh, nil
}

func TestSourceFromStore(t *testing.T) {
	ks := &memKeys{keys: map[string][]byte{}, errs: 1}
	a, b := FromStore(ks), FromStore(ks)
	_, err := a.Box(context.Background())
	require.Error(t, err, "a store failure")
	boxA, err := a.Box(context.Background())
	require.NoError(t, err, "retried")
	boxB, err := b.Box(context.Background())
	require.NoError(t, err)
	got, err := boxB.Open(boxA.Seal("x"))
	require.NoError(t, err)
	assert.Equal(t, "x", got, "two gateways on one store share the key")
	assert.False(t, a.Configured())
}
