// Package tenancy owns who may see and write which resource: practice
// tenancy over patient data, the publisher's scope over the directory,
// what a directory entry may claim, the header secrets' owner and the
// per-type rules of who may delete.
//
// Every patient-linked resource (auth.IsPatientLinked) belongs to one
// practice, recorded as a server-owned security label in meta.security:
// system <canonical base>/CodeSystem/practice, code the practice's ODS
// code (Labels). On every write the practice is worked out and the label
// stamped, replacing whatever labels of that system the client sent:
//
//  1. the practice the resource names: Task.owner's identifier in the ODS
//     system (https://fhir.nhs.uk/Id/ods-organization-code), or a label of
//     the practice system the client sent (the only way other types can
//     say it). Naming two practices is a 422; naming one the caller does
//     not act for is a 403.
//  2. else, on an update, the practice of the stored version;
//  3. else the caller's practice when its token names exactly one;
//  4. else (a token acting for several practices) a 422 asking the client
//     to say which. The developer (development mode) may write resources
//     that belong to no practice; they are then visible to the developer
//     only.
//
// An update may move a resource to another practice only when the caller
// acts for both. Reads (read, vread, history) of a resource of another
// practice answer 404, never 403, so existence does not leak; updates,
// patches and deletes of one answer 404 too. Searches get the restriction
// as a _security parameter on the parsed query, so totals and paging are
// right; resources brought in by _include and _revinclude are dropped
// when invisible, and chained parameters and _has look only at visible
// resources (search.Query.Tenancy). Type and system history leave out
// other practices' versions (store.HistoryQuery.Security, filled by
// HistoryFilter), and a past version of another practice's resource is
// not known however it is asked for (Guard.History, Guard.VersionRead:
// read outside any transaction, since versions never change).
//
// All of this lives in Tx, the store.Tx every interaction runs on
// (Guard.Wrap), so REST requests, conditional interactions, PATCH and
// each entry of a batch or transaction get the same rules from one place;
// a Bundle run writes through it too, asking it for the checks of the
// writes it batches (batch.go).
// It also runs the delete checks (DeleteCheck), claims an Organization's
// ODS codes (directoryclaims.go) and keeps header secrets (package
// secrets), and tells the Guard's Follower (the gateway's Subscriptions)
// of every write, inside the write's transaction.
//
// Subscription follows the same rules (Owned), though not patient data:
// it belongs to the practice of its creator, whose resources alone it may
// match, and its channel may hold secrets.
//
// Nothing here knows HTTP: refusals are *fhir.Error with issue codes and,
// where the code alone does not decide, a fhir.Detail (Because).
//
// It imports auth, secrets, internal/sealed, mapping, fhir, fhir/search,
// fhir/store and subscriptions (the outbound allow-list and Subscription
// checks).
package tenancy
