// Package sqlsearch is the SQL both stores share for search: the index
// rows a resource version gives (RowsOf) and the queries that turn a
// search.Query into SQL over those rows.
//
// This package must not import a database driver, Gin or go-oidc; it
// depends on fhir, fhir/search and fhir/store only.
package sqlsearch
