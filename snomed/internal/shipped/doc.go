// Package shipped turns the project's verified SNOMED CT list
// (shared/snomed/verified-codes.csv) into the tab-separated subset the
// snomed package embeds. It is shared by the go:generate command and by the
// test that proves the embedded file is up to date, and imports nothing of
// the concept set (which embeds its output): only the standard library and
// snomed/sctid.
package shipped
