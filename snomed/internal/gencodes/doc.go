// Command gencodes writes snomed/data/concepts.tsv, the SNOMED CT subset
// Signpost ships, from shared/snomed/verified-codes.csv. It is run by
// `go generate ./snomed/...`; see package shipped for the format.
package main
