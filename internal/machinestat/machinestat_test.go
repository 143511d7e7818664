package machinestat

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	a := parse("cpu  100 5 50 1000 7 3 2 4 0 0\ncpu0 1 2 3\n")
	require.True(t, a.OK)
	assert.Equal(t, int64(100+5+50+3+2), a.Busy)
	assert.Equal(t, int64(4), a.Steal)
	b := parse("cpu  300 5 150 2000 7 3 2 24 0 0\n")
	s := a.Since(b)
	assert.InDelta(t, 3.0, s.BusySeconds, 1e-9)
	assert.InDelta(t, 0.2, s.StealSeconds, 1e-9)
	assert.InDelta(t, 30.0, s.PerOp(100), 1e-9, "ms per operation")
	assert.InDelta(t, 75.0, s.BusyPercent(2, 2), 1e-9)
	assert.InDelta(t, 5.0, s.StolenPercent(2, 2), 1e-9)

	assert.False(t, parse("intr 1 2 3\n").OK)
	assert.False(t, parse("cpu 1 2 x 4 5 6 7 8\n").OK)
	assert.False(t, Ticks{}.Since(b).OK, "an unread start gives no span")
	assert.Zero(t, Ticks{}.Since(b).PerOp(10))
}

func TestReadOnLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/stat is Linux's")
	}
	a := Read()
	require.True(t, a.OK)
	// 200 ms of spinning is at least 200 ms of some core's busy time.
	x, end := 0, time.Now().Add(200*time.Millisecond)
	for time.Now().Before(end) {
		x++
	}
	s := a.Since(Read())
	require.True(t, s.OK)
	assert.GreaterOrEqual(t, s.BusySeconds, 0.1, "after %d spins", x)
}
