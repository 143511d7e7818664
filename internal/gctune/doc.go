// Package gctune sets the Go garbage collector's target for the gateway.
//
// A gateway's heap is mostly short-lived request garbage (decoded JSON
// trees, encoded bodies, SQL arguments) over a small live set (caches,
// the directory snapshot). With Go's default target (GOGC=100) the
// collector runs whenever the heap has doubled, which under load is many
// times a second and took about a seventh of the gateway's CPU in the
// navigation load. At 200 it runs half as often for a heap at most about
// half as large again; the live set is tens of megabytes, so the cost is
// tens of megabytes of memory.
package gctune
