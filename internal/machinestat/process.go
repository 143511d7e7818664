package machinestat

import (
	"os"
	"strconv"
	"strings"
)

// A Group is a set of processes whose CPU time is counted together: one
// process by PID, or every process with a command name (Comm, as
// /proc/<pid>/stat gives it: "postgres" for a PostgreSQL server's
// postmaster, backends and background workers alike).
//
// Tree names a process and its direct children instead: a PostgreSQL
// postmaster and its backends and workers, which is one server's time
// alone when other servers (or other clusters of tests) run beside it.
type Group struct {
	PID  int
	Comm string
	Tree int
}

// GroupTicks are the CPU time of some groups at one moment, in USER_HZ
// ticks, one per group (-1 where no process of the group was found). OK
// is false where /proc cannot be read (not Linux).
type GroupTicks struct {
	Ticks []int64
	OK    bool
}

// ReadGroups reads the CPU time of each group now. A process's time is
// its user and system time; a group named by Comm also counts the time of
// its processes' children that have exited and been waited for, so that
// a PostgreSQL backend that ends between two readings (its time moves to
// the postmaster's) is neither lost nor counted twice.
func ReadGroups(groups []Group) GroupTicks {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return GroupTicks{}
	}
	out := GroupTicks{Ticks: make([]int64, len(groups)), OK: true}
	for i := range out.Ticks {
		out.Ticks[i] = -1
	}
	byComm := false
	for i, g := range groups {
		if g.PID > 0 {
			if st, ok := readStat(strconv.Itoa(g.PID)); ok {
				out.Ticks[i] = st.self
			}
		} else if g.Comm != "" || g.Tree > 0 {
			byComm = true
		}
	}
	if byComm {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return GroupTicks{}
		}
		for _, e := range ents {
			if e.Name()[0] < '0' || e.Name()[0] > '9' {
				continue
			}
			st, ok := readStat(e.Name())
			if !ok {
				continue
			}
			for i, g := range groups {
				switch {
				case g.PID > 0:
				case g.Tree > 0 && e.Name() == strconv.Itoa(g.Tree):
					// The parent: its own time and its reaped children's.
					out.Ticks[i] = max(out.Ticks[i], 0) + st.self + st.children
				case g.Tree > 0 && st.ppid == g.Tree:
					out.Ticks[i] = max(out.Ticks[i], 0) + st.self
				case g.Tree == 0 && g.Comm == st.comm:
					out.Ticks[i] = max(out.Ticks[i], 0) + st.self + st.children
				}
			}
		}
	}
	return out
}

// Since is the CPU time, in seconds, each group used from t to now; a
// group missing at either reading is -1.
func (t GroupTicks) Since(now GroupTicks) []float64 {
	if !t.OK || !now.OK || len(t.Ticks) != len(now.Ticks) {
		return nil
	}
	out := make([]float64, len(t.Ticks))
	for i := range out {
		if t.Ticks[i] < 0 || now.Ticks[i] < 0 {
			out[i] = -1
			continue
		}
		out[i] = float64(now.Ticks[i]-t.Ticks[i]) / userHZ
	}
	return out
}

// procStat is what ReadGroups needs of /proc/<pid>/stat.
type procStat struct {
	comm string
	ppid int
	// self is utime+stime, children cutime+cstime.
	self, children int64
}

func readStat(pid string) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return procStat{}, false
	}
	return parseStat(string(b))
}

// parseStat reads a /proc/<pid>/stat line. The command name is between
// the first "(" and the last ")": it may itself hold spaces and
// parentheses.
func parseStat(s string) (procStat, bool) {
	l, r := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if l < 0 || r < l || r+2 > len(s) {
		return procStat{}, false
	}
	// After the name: state (field 3), ..., utime (14), stime (15),
	// cutime (16), cstime (17).
	f := strings.Fields(s[r+1:])
	if len(f) < 15 {
		return procStat{}, false
	}
	var v [4]int64
	for i := range v {
		n, err := strconv.ParseInt(f[11+i], 10, 64)
		if err != nil {
			return procStat{}, false
		}
		v[i] = n
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, false
	}
	return procStat{comm: s[l+1 : r], ppid: ppid, self: v[0] + v[1], children: v[2] + v[3]}, true
}

// Parent is the parent process id of pid, 0 when unknown.
func Parent(pid int) int {
	st, ok := readStat(strconv.Itoa(pid))
	if !ok {
		return 0
	}
	return st.ppid
}
