// Command signpost-bench is Signpost's load tool: it drives a gateway's
// HTTP API from a process of its own and reports throughput, latency and
// the CPU time per request of the gateway, the database and itself.
//
//	signpost-bench [flags]            create, read and raw-insert phases (docs/performance.md)
//	signpost-bench seedtasks [flags]  bulk-load synthetic Tasks into PostgreSQL for search benchmarks
//	signpost-bench help               this list
//
// Without -target it runs the gateway itself, as a child process of the
// signpost binary: -gateway names it; by default the signpost beside this
// program, else the one on PATH, else (inside the source tree, with Go
// installed) one built from ./cmd/signpost into a temporary folder.
package main
