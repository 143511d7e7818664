// Package postgres is the production store.Store: PostgreSQL through
// pgx/v5 and a pgxpool.
//
// Two tables hold the data: resources (the current version of each
// resource, one row) and resource_history (every version). A write changes
// both in one transaction; a create is one statement and one round trip
// (a data-modifying CTE), because create throughput is what a busy intake
// channel needs. Updates and deletes lock the current row with
// SELECT ... FOR UPDATE, which is what makes If-Match exact and keeps
// concurrent unconditional updates from losing each other.
//
// Bodies are PostgreSQL json, not jsonb as the architecture sketch first
// said: jsonb rewrites numbers (1.0e2 becomes 100) and FHIR decimals must
// come back as they were sent. See migrations/0001_resources.sql.
//
// Migrations are embedded and applied by Open inside one transaction that
// first takes a transaction-scoped advisory lock, so any number of gateway
// processes may start at once on one database.
//
// This package must not import Gin, go-oidc, or the gateway and mapping
// packages; it depends only on fhir and fhir/store.
package postgres
