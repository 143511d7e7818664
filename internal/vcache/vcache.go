package vcache

import (
	"sync"
	"time"
)

// Cache holds, per key, a value and the stored version it was derived
// from.
type Cache[K comparable, V any] struct {
	// fresh says whether an entry checked against the store at the given
	// time may be used without checking again.
	fresh func(checked time.Time) bool
	now   func() time.Time

	mu sync.Mutex
	m  map[K]entry[V]
}

type entry[V any] struct {
	version int64
	value   V
	checked time.Time
}

// New is an empty cache whose entries are used unchecked while fresh
// says so.
func New[K comparable, V any](fresh func(checked time.Time) bool) *Cache[K, V] {
	return &Cache[K, V]{fresh: fresh, now: time.Now, m: map[K]entry[V]{}}
}

// Get returns key's value. An entry fresh says is recent is returned as
// it is. Otherwise current reads the resource's current version (0 when
// there is none) and, unless the entry was derived from that same version,
// derive makes the value from it; the entry is kept as checked at the
// start of the call. A version of 0 names no stored content, so its value
// is derived every time it is checked. An error from current or derive
// is returned and leaves the entry as it was.
func (c *Cache[K, V]) Get(key K, current func() (int64, error), derive func(version int64) (V, error)) (V, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && !e.checked.IsZero() && c.fresh(e.checked) {
		return e.value, nil
	}
	checked := c.now()
	version, err := current()
	if err != nil {
		var zero V
		return zero, err
	}
	if !ok || version == 0 || e.version != version {
		v, err := derive(version)
		if err != nil {
			var zero V
			return zero, err
		}
		e = entry[V]{version: version, value: v}
	}
	e.checked = checked
	c.mu.Lock()
	c.m[key] = e
	c.mu.Unlock()
	return e.value, nil
}
