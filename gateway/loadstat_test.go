package gateway_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// machineTicks are the machine's CPU counters from /proc/stat (Linux, in
// USER_HZ, 1/100 s): busy is user, nice, system, irq and softirq time over
// all cores, steal the time the hypervisor ran something else instead.
// On a shared virtual machine throughput follows the host's load, but the
// CPU time a unit of work takes much less so: the load tests report both.
type machineTicks struct {
	busy, steal int64
	ok          bool
}

func readMachineTicks() machineTicks {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTicks{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineTicks{}
	}
	var v [9]int64
	for i := 1; i < 9; i++ {
		if v[i], err = strconv.ParseInt(f[i], 10, 64); err != nil {
			return machineTicks{}
		}
	}
	return machineTicks{busy: v[1] + v[2] + v[3] + v[6] + v[7], steal: v[8], ok: true}
}

// perOp is the machine's CPU time per operation between t and then, with
// the share of the elapsed core time stolen by the hypervisor.
func (t machineTicks) perOp(then machineTicks, ops int, cores int, elapsedSeconds float64) string {
	if !t.ok || !then.ok || ops == 0 {
		return "machine CPU not known"
	}
	busyMs := float64(then.busy-t.busy) * 10
	steal := float64(then.steal-t.steal) / 100 / (elapsedSeconds * float64(cores)) * 100
	return fmt.Sprintf("machine CPU %.2f ms per operation, %.0f%% of %d cores busy, %.1f%% stolen", busyMs/float64(ops), busyMs/1000/(elapsedSeconds*float64(cores))*100, cores, steal)
}
