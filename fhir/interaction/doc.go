// Package interaction is the FHIR interaction engine below the HTTP edge:
// what create, update, delete and their conditional forms (R4 3.1.0.4 to
// 3.1.0.8), PATCH (JSON Patch and FHIRPath Patch), conditional references
// and history Bundles mean over a store.Tx, whichever route (a REST
// request or an entry of a batch or transaction Bundle) asked for them.
//
// It owns: the conditional semantics (criteria parsing, the lock taken on
// them, none/one/several matches), the patch formats and how a patch is
// applied and written (If-Match on the version it was applied to, a lock
// per resource), the resolution of conditional references, and the
// rendering of history Bundles.
//
// It knows nothing of HTTP: an interaction answers with a Result whose
// Outcome (Done, Created, Deleted, NotModified) the gateway turns into a
// status, and errors are *fhir.Error with issue codes, refined where the
// code alone does not decide the answer by a fhir.Detail (Because). Tenancy, audit,
// authorisation and validation are the caller's: it passes a store.Tx
// that already enforces them, and the checks a patch needs
// (PatchChecks).
//
// It imports fhir, fhir/search, fhir/spec and fhir/store only.
package interaction
