package gctune

import "runtime/debug"

// Percent is the collector target the gateway runs with unless GOGC is
// set.
const Percent = 200

// Apply sets the target to Percent when the environment does not choose
// one (getenv("GOGC") empty); an explicit GOGC, "off" included, is left to
// the runtime. It reports the target in force, or -1 when the runtime's
// own setting applies.
func Apply(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		return -1
	}
	debug.SetGCPercent(Percent)
	return Percent
}
