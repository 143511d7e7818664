// Package archtest holds the test that keeps the layout of
// docs/architecture.md: every package has a doc.go, only the gateway
// imports Gin, nothing but the commands imports the gateway, fhir/
// imports no Signpost package outside it, and the packages below the
// gateway (tenancy, audit, bars, ...) know nothing of HTTP (no net/http)
// and import nothing above them. It has no code of its own.
package archtest
