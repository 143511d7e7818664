package vcache

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDerivedOncePerVersion(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	c := New[string, string](func(checked time.Time) bool { return now.Sub(checked) < time.Second })
	c.now = func() time.Time { return now }
	version, reads, derives := int64(1), 0, 0
	get := func() string {
		v, err := c.Get("k", func() (int64, error) { reads++; return version, nil },
			func(v int64) (string, error) { derives++; return "v" + string(rune('0'+v)), nil })
		require.NoError(t, err)
		return v
	}
	assert.Equal(t, "v1", get())
	assert.Equal(t, "v1", get(), "fresh: used unchecked")
	assert.Equal(t, 1, reads)
	now = now.Add(2 * time.Second)
	assert.Equal(t, "v1", get(), "checked, same version: not derived again")
	assert.Equal(t, [2]int{2, 1}, [2]int{reads, derives})
	version = 2
	now = now.Add(2 * time.Second)
	assert.Equal(t, "v2", get(), "a new version is derived")
	assert.Equal(t, [2]int{3, 2}, [2]int{reads, derives})
}

func TestNoVersionIsDerivedEachCheckAndErrorsKeepTheEntry(t *testing.T) {
	stale := false
	c := New[string, int](func(time.Time) bool { return !stale })
	derives := 0
	derive := func(v int64) (int, error) { derives++; return int(v), nil }
	_, err := c.Get("k", func() (int64, error) { return 0, nil }, derive)
	require.NoError(t, err)
	stale = true
	_, err = c.Get("k", func() (int64, error) { return 0, nil }, derive)
	require.NoError(t, err)
	assert.Equal(t, 2, derives, "version 0 is no stored content: derived at every check")

	boom := errors.New("store down")
	_, err = c.Get("k", func() (int64, error) { return 7, nil }, derive)
	require.NoError(t, err)
	_, err = c.Get("k", func() (int64, error) { return 0, boom }, derive)
	require.ErrorIs(t, err, boom)
	_, err = c.Get("k", func() (int64, error) { return 8, nil }, func(int64) (int, error) { return 0, boom })
	require.ErrorIs(t, err, boom)
	v, err := c.Get("k", func() (int64, error) { return 7, nil }, func(int64) (int, error) { t.Fatal("derived again"); return 0, nil })
	require.NoError(t, err)
	assert.Equal(t, 7, v, "failed checks left the entry of version 7")
}
