// Package store declares how Signpost persists FHIR resources, with version
// history, and holds what its implementations share. The implementations
// are subpackages named after what they talk to: postgres (pgx/v5, the
// production store) and sqlite (the embedded default). storetest is the one
// contract suite both must pass.
//
// Every write is one transaction: the resource's current row, its history
// row, its search index rows and any outbox rows (Tx.Enqueue)
// commit together or not at all.
//
// This package must not import Gin or go-oidc; only its subpackages import
// database drivers.
package store
