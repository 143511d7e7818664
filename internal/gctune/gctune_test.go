package gctune

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestApply(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })

	assert.Equal(t, -1, Apply(func(k string) string {
		if k == "GOGC" {
			return "50"
		}
		return ""
	}), "an explicit GOGC is left alone")
	assert.Equal(t, 100, debug.SetGCPercent(100))

	assert.Equal(t, Percent, Apply(func(string) string { return "" }))
	assert.Equal(t, Percent, debug.SetGCPercent(100), "the gateway's target is in force")
}
