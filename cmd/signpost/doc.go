// Command signpost runs the Signpost FHIR gateway, and its tools.
//
//	signpost [serve] [flags]   run the gateway (the default)
//	signpost directory import [flags] FILE|URL   sync NHS Service Search v3 organisations into a gateway
//	signpost lexicon report [flags]  measure the clinical lexicon on a labelled corpus
//	signpost help [command]    list the commands, or show one command's flags
//
// main only wires: configuration, the store, the HTTP server, signals.
// The load tools are cmd/signpost-bench.
package main
