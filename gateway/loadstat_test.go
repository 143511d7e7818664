package gateway_test

import (
	"fmt"
	"runtime"

	"github.com/signpost-fhir/signpost/internal/machinestat"
)

// machineCPU says how much CPU time the machine spent per operation
// between start and now, with the share the hypervisor stole: on a shared
// virtual machine throughput follows the host's load, so the load tests
// report both.
func machineCPU(start machinestat.Ticks, ops int, elapsedSeconds float64) string {
	s := start.Since(machinestat.Read())
	if !s.OK || ops == 0 {
		return "machine CPU not known"
	}
	cores := runtime.NumCPU()
	return fmt.Sprintf("machine CPU %.2f ms per operation, %.0f%% of %d cores busy, %.1f%% stolen",
		s.PerOp(int64(ops)), s.BusyPercent(elapsedSeconds, cores), cores, s.StolenPercent(elapsedSeconds, cores))
}
