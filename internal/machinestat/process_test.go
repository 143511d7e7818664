package machinestat

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	// A name with spaces and parentheses, as a process may give itself.
	st, ok := parseStat("4242 (post (gres) x) S 1 4242 4242 0 -1 4194560 1 0 0 0 70 30 5 6 20 0 1 0 100 1000 10 18446744073709551615\n")
	require.True(t, ok)
	assert.Equal(t, procStat{comm: "post (gres) x", ppid: 1, self: 100, children: 11}, st)

	for _, bad := range []string{"", "4242 postgres S 1", "4242 (postgres) S 1 2 3", "4242 (postgres) S 1 4242 4242 0 -1 4194560 1 0 0 0 x 30 5 6 20"} {
		_, ok := parseStat(bad)
		assert.False(t, ok, "%q", bad)
	}
}

func TestGroupsSince(t *testing.T) {
	a := GroupTicks{Ticks: []int64{100, -1, 50}, OK: true}
	b := GroupTicks{Ticks: []int64{350, 20, -1}, OK: true}
	assert.Equal(t, []float64{2.5, -1, -1}, a.Since(b), "a group missing at either reading has no figure")
	assert.Nil(t, GroupTicks{}.Since(b))
	assert.Nil(t, a.Since(GroupTicks{Ticks: []int64{1}, OK: true}))
}

func TestReadGroupsOnLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	self, ok := readStat("self")
	require.True(t, ok)
	groups := []Group{{PID: os.Getpid()}, {Comm: self.comm}, {PID: 1 << 30}, {Comm: "no such command"}}
	a := ReadGroups(groups)
	require.True(t, a.OK)
	// Spin until the process has used 0.3 s of CPU (by the kernel's own
	// account, not the wall clock: on a busy machine 0.3 s of wall time
	// may be much less CPU), or 20 s have passed.
	cpu := func() time.Duration {
		var ru syscall.Rusage
		require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	x, start, end := 0, cpu(), time.Now().Add(20*time.Second)
	for cpu()-start < 300*time.Millisecond && time.Now().Before(end) {
		for range 10000 {
			x++
		}
	}
	s := a.Since(ReadGroups(groups))
	require.Len(t, s, 4)
	assert.GreaterOrEqual(t, s[0], 0.15, "this process, after %d spins", x)
	assert.GreaterOrEqual(t, s[1], s[0]-0.02, "every process named %q, this one among them", self.comm)
	assert.Equal(t, -1.0, s[2], "no such process")
	assert.Equal(t, -1.0, s[3], "no process of that name")
}

// A Tree group is a parent and its direct children: a child that spins
// counts, and only while it is the parent's.
func TestReadGroupsTree(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	// A child that uses CPU until it is killed: sh counting in a loop.
	cmd := exec.Command("sh", "-c", "i=0; while :; do i=$((i+1)); done")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	assert.Equal(t, os.Getpid(), Parent(cmd.Process.Pid))
	assert.Equal(t, 0, Parent(1<<30), "no such process")

	tree := []Group{{Tree: os.Getpid()}, {Tree: 1 << 30}}
	a := ReadGroups(tree)
	require.True(t, a.OK)
	// Read after a: the child has used at least as much now as then.
	before, ok := readStat(strconv.Itoa(cmd.Process.Pid))
	require.True(t, ok)
	require.GreaterOrEqual(t, a.Ticks[0], int64(0))
	assert.Equal(t, int64(-1), a.Ticks[1], "no process of a tree that does not exist")
	// Wait (on the child's own CPU account) until it has used 0.1 s more
	// than when the tree was first read: what it used before does not
	// count in the difference.
	end := time.Now().Add(20 * time.Second)
	for time.Now().Before(end) {
		st, ok := readStat(strconv.Itoa(cmd.Process.Pid))
		require.True(t, ok)
		if st.self >= before.self+10 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := a.Since(ReadGroups(tree))
	assert.GreaterOrEqual(t, s[0], 0.1, "the child's time counts in its parent's tree")
}
