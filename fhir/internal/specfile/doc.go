// Package specfile is the wire format of the trimmed FHIR specification that
// specgen writes and package fhir/spec embeds: the one definition both sides
// share, so the generator and the loader cannot drift apart.
//
// It holds types only and imports nothing but the standard library.
package specfile
