// Package sqlsearch is the search SQL both stores share: the index rows a
// resource version gives (RowsOf), and Search, which turns a
// search.Query into SQL over those rows and the resources table, runs it
// through a Querier the store provides, and assembles the page. The SQL
// text is the same for PostgreSQL and SQLite: placeholders are ?
// (the PostgreSQL store rewrites them with Rebind), the one Dialect
// fragment is a byte-order collation, and the
// argument types that differ (Timestamp, search.Decimal) are bound by
// each store as its columns want.
//
// # Tables
//
// One index table per parameter type (idx_token, idx_string,
// idx_reference, idx_date, idx_number, idx_quantity, idx_uri), keyed by
// (res_type, res_id, param), holding the rows of the current version of
// live resources only; the stores replace them in the statement or
// transaction that writes the resource row. _id and _lastUpdated are read
// from the resources table. Dates are Unix microseconds with the open ends
// at the extremes of int64 (Micros). Reference rows also carry the
// referring resource's status (Rows.Status) and the sort values of its
// worklist date (WorklistDate: Task authored-on ...), so that a worklist
// search, a reference plus a status newest first, is answered by one
// range of the reference index: over 1,000,000 Tasks, "a practice's
// requested Tasks, newest first" reads about 20 index pages and 21
// resource rows.
//
// # Matching
//
// A resource matches a parameter when one of its rows matches one of the
// parameter's values (OR); parameters are ANDed. Per type:
//
//   - token: code alone (any system), system|code, |code (no system),
//     system| (any code); :not is "no row matches" (so it includes
//     resources without a value); :text is a starts-with on the
//     normalised display or text; :of-type is type system|code|value of
//     an Identifier.
//   - string: a starts-with on the normalised value, as a byte-order
//     range (value >= p AND value < successor(p)), which B-tree indexes
//     serve in both databases; :exact compares the text as written;
//     :contains is a LIKE with the wildcards escaped.
//   - reference: Type/id, id alone (the parameter's single target type,
//     or any type), :[type], :identifier on logical references, canonical
//     url[|version]. An absolute reference under Options.BaseURL is the
//     same as a relative one; one under another base matches only that
//     base. Other shapes (urn:uuid:...) match on the text.
//   - date: R4 3.1.1.4's table on the ranges of the search value and of
//     the resource's value (see builder.dateValue); ap widens the search
//     range by a tenth of the time between it and now on each side.
//   - number, quantity: a stored value is a point; eq and ne test it
//     against the search value's precision range, lt/le/gt/ge against the
//     value as written, sa/eb against the range, ap against ±10% (or the
//     precision range if wider). A Range (quantity) compares as the range,
//     NULL ends open. Units: system|code must both match; ||code matches
//     the code or the unit; no unit conversion.
//   - uri: equality; :below a starts-with; :above the uri's own prefixes
//     at '/' boundaries.
//   - :missing=true on any type is "no row for the parameter", false "a
//     row". Chains join the reference rows to the target's rows; _has
//     joins the other way; a further link (up to search.MaxLinks) is a
//     correlated EXISTS on the reference rows, with the tenancy applied
//     to what it reaches.
//   - composite: the rows of one element share a Param
//     (search.InstanceParam); a value matches when a row of the first
//     component and, by EXISTS, rows of the others with that same Param
//     match.
//   - token :in, :not-in, :below and :above are expanded into codes
//     before the search (search.ExpandCodes).
//
// # Order and paging
//
// _sort keys are _id, _lastUpdated or any parameter: the smallest value
// of a resource for an ascending key, the largest for a descending one
// (for dates the earliest start ascending and the latest end descending),
// resources without a value last either way, then the id ascending in
// byte order as the tiebreak. The default is _lastUpdated descending.
// Pages are keyset pages: a cursor holds the sort values and id of the row
// it continues from, the direction and the instant the first page was read
// (opaque base64url JSON, tied to the sort by a signature). Later pages
// match and order the resources as they were at that instant (see
// snapshot.go), so every resource that matched at the first page is on
// exactly one page, whatever others update, rename or create meanwhile.
//
// # Planning
//
// The page's ids and sort keys are found first and resource rows are read
// for the page alone. When an index condition implies the resource is
// live, the candidates come from the index condition most likely to be
// selective (driverRank) rather than from resources, which spares a probe
// per candidate and fixes the plan's shape whatever the values. Sort keys
// on parameters are aggregates over LEFT JOINed index rows.
//
// # Includes
//
// _include and _revinclude follow local references (relative, or under
// BaseURL; canonicals are not followed) from the page's matches; the
// :iterate ones then follow from what the previous round brought, for at
// most MaxIncludeDepth rounds. Each resource comes once and never when it
// is a match.
//
// This package must not import a database driver, Gin or go-oidc; it
// depends on fhir, fhir/search and fhir/store only.
package sqlsearch
