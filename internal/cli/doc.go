// Package cli holds what Signpost's commands (cmd/signpost,
// cmd/signpost-bench) share about their command lines: the usage error
// that exits 2 with one line, the help request, and secrets read from a
// variable or the file a _FILE variable names; and what starting a
// gateway as a child process needs (its environment, a free port), for
// signpost-bench and the commands' process tests.
package cli
