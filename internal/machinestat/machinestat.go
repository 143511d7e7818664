package machinestat

import (
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of /proc/stat's counters (USER_HZ, 100 on Linux).
const userHZ = 100

// Ticks are the machine's CPU counters at one moment, over all cores:
// busy is user, nice, system, irq and softirq time, steal the time the
// hypervisor ran something else. OK is false where /proc/stat cannot be
// read (not Linux).
type Ticks struct {
	Busy, Steal int64
	OK          bool
}

// Read reads the counters now.
func Read() Ticks {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Ticks{}
	}
	return parse(string(b))
}

func parse(stat string) Ticks {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return Ticks{}
	}
	var v [9]int64
	for i := 1; i < 9; i++ {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return Ticks{}
		}
		v[i] = n
	}
	return Ticks{Busy: v[1] + v[2] + v[3] + v[6] + v[7], Steal: v[8], OK: true}
}

// Span is what the machine's CPUs did between two readings.
type Span struct {
	// BusySeconds is CPU time over all cores; StealSeconds the time
	// stolen.
	BusySeconds, StealSeconds float64
	OK                        bool
}

// Since is the span from t to now.
func (t Ticks) Since(now Ticks) Span {
	if !t.OK || !now.OK {
		return Span{}
	}
	return Span{BusySeconds: float64(now.Busy-t.Busy) / userHZ, StealSeconds: float64(now.Steal-t.Steal) / userHZ, OK: true}
}

// PerOp is the CPU time per operation, in milliseconds.
func (s Span) PerOp(ops int64) float64 {
	if !s.OK || ops <= 0 {
		return 0
	}
	return s.BusySeconds * 1000 / float64(ops)
}

// StolenPercent is the stolen share of the cores' time over elapsed
// seconds.
func (s Span) StolenPercent(elapsed float64, cores int) float64 {
	if !s.OK || elapsed <= 0 || cores <= 0 {
		return 0
	}
	return 100 * s.StealSeconds / (elapsed * float64(cores))
}

// BusyPercent is the busy share of the cores' time over elapsed seconds.
func (s Span) BusyPercent(elapsed float64, cores int) float64 {
	if !s.OK || elapsed <= 0 || cores <= 0 {
		return 0
	}
	return 100 * s.BusySeconds / (elapsed * float64(cores))
}
