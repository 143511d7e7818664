// Package audit owns the AuditEvents of access to patient data: which
// interactions leave one and the Entry each starts with (entries.go:
// For, ForEntry, History, SystemSearch, Operation), what one says (Event,
// from a neutral Who and Entry the gateway fills from its request, the
// Outcome from the answer's status: OutcomeOf), writing a write's in the
// write's own transaction (Record), a read's before its answer is sent,
// committed in groups (Read), and a failed access's afterwards, also for
// the practice a miss probed (Failure).
//
// Every interaction that touches patient-linked data (a read, vread,
// search, history, write or operation on a patient-linked type, a search
// that chains, _has-es or includes into one, each such entry of a batch
// or transaction) leaves exactly one AuditEvent, success or failure, for
// an authenticated caller:
//
//   - type rest, subtype the R4 restful-interaction code (read, vread,
//     search-type, history-instance, history-type, history-system, create,
//     update, patch, delete, operation), action C, R, U, D or E (E for
//     searches and operations, as R4 defines it);
//   - recorded, outcome (0 success, 4 a refusal or a miss) and outcomeDesc
//     (the HTTP status, nothing more: the gateway's Outcome);
//   - agents: the user (sub, with the issuer as identifier system, the
//     source IP as network address, roles and tier), the client
//     application (client_id) and, for each practice the access was on
//     behalf of, the practice (ODS identifier);
//   - entities: what was touched (Type/id[/_history/n], or for a search
//     the searched type with the parameter NAMES only: values hold NHS
//     numbers and other patient identifiers, so they are never recorded)
//     and the HTTP request, by its X-Request-Id;
//   - meta.security: the practice label of each practice concerned, so an
//     auditor sees the events of their own practices (tenancy applies to
//     AuditEvent like any patient-linked type).
//
// Failures are recorded when they are what an auditor looks for: a
// refusal (403) and a miss (404, 410), which is how probing for another
// practice's data shows; a miss on an id another practice holds is also
// recorded for that practice (Failure). A request refused as malformed
// (400, 405, 413, 415, 422) or in conflict (409, 412) accessed nothing
// and leaves no AuditEvent; nor does a 401, which has no caller to name
// (it is logged). Which failures those are is the gateway's to say.
//
// "No audit, no access": a write's AuditEvent is created in the same
// Store.Transaction as the write, so both commit or neither does; a read's
// is created before the response is sent, and if that fails the client
// gets a 500, not the data. A failure's AuditEvent (the access did not
// happen) is written afterwards, on a best-effort basis: if that fails it
// is logged. AuditEvents are append-only (the registry serves no update,
// patch or delete of them).
//
// Nothing here knows HTTP: the outcome comes as an Outcome the caller
// fills (OutcomeOf makes one from a status code and its text).
//
// It imports auth, mapping, tenancy (the practice labels, who owns a
// probed id), fhir, fhir/store and fhir/interaction (a Bundle entry, the
// paging cursor's name).
package audit
