// Package machinestat reads the machine's CPU counters, for the load
// tools to report the CPU time a unit of work took beside its rate. On a
// shared virtual machine the rate follows the host's load from one minute
// to the next; the CPU time per unit, and the share the hypervisor stole,
// tell a slower host from slower code.
package machinestat
