package gateway_test

import (
	"flag"
	"os"
	"testing"
)

// testParallel is how many of this package's tests run at once when the
// command line does not say (-parallel). Its tests mostly wait: on
// loopback HTTP, on the database's commits, on delivery workers' polls.
// With go test's default (one per core) the package took most of the
// suite's time on two cores while the cores were idle.
const testParallel = "6"

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", testParallel)
	}
	os.Exit(m.Run())
}
