// Package interaction is the FHIR interaction engine below the HTTP edge:
// what create, update, delete and their conditional forms (R4 3.1.0.4 to
// 3.1.0.8), PATCH (JSON Patch and FHIRPath Patch), conditional references
// and history Bundles mean over a store.Tx, whichever route (a REST
// request or an entry of a batch or transaction Bundle) asked for them;
// and the batch and transaction run itself (R4 3.1.0.11): the parse of a
// Bundle's entries (bundle.go), the order they run in, the rewriting of
// the Bundle's temporary ids, the checks that no two entries act on one
// resource, the retries of a transaction that lost a race (run.go), and
// the batched searches and writes of a large transaction on a store that
// offers them (together.go).
//
// It owns: the conditional semantics (criteria parsing, the lock taken on
// them, none/one/several matches), the patch formats and how a patch is
// applied and written (If-Match on the version it was applied to, a lock
// per resource), the resolution of conditional references, and the
// rendering of history Bundles; a search's parse (paging, what was
// understood and ignored, the split of a custom search's parameters) and
// its searchset Bundle (searchquery.go, searchset.go); the answer of a
// read under If-None-Match, If-Modified-Since, _summary and _elements,
// and If-None-Match on an update (read.go); the write checks each type's
// resources pass besides the R4 definitions (WriteChecks, checks.go); an
// operation's parameters (OperationParams) and the searches of
// $everything and of [base]?_type= (everything.go, multitype.go).
//
// It knows nothing of HTTP: an interaction answers with a Result whose
// Outcome (Done, Created, Deleted, NotModified) the gateway turns into a
// status, and errors are *fhir.Error with issue codes, refined where the
// code alone does not decide the answer by a fhir.Detail (Because). Tenancy, audit,
// authorisation and the choice of checks are the caller's: it passes a store.Tx
// that already enforces them, and the checks a patch needs
// (PatchChecks); a Bundle run asks them of a Host (reads outside the
// transaction, audit per entry), of a Guarded tx (what tenancy adds to a
// store.Tx: the practices of the last write, the checks and follow-ups
// of the writes it batches) and, while parsing, of a Parser (the types
// and interactions served, searches, reads, validation). The status line
// of a Bundle entry's response ("201 Created") is the gateway's, made
// with the same table as a REST answer's status.
//
// It imports fhir, fhir/search, fhir/spec and fhir/store only.
package interaction
