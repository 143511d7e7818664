// Package mapping is the care navigation domain: intake, assessment,
// allocation, directory matching, protocol rules and turning decisions into
// FHIR. It is pure: what it needs from outside (the current allocation
// ConceptMap, the directory, the need group, the history of contacts) it
// asks for through small interfaces or functions it declares, so it can be
// tested without a server or a database.
//
// It may import fhir and snomed; it must not import gateway, Gin, pgx,
// go-oidc or a store implementation.
package mapping
