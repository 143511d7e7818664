// Package directory keeps the directory of services (HealthcareService)
// that navigation, HealthcareService/$match and the directory's write
// check read: a decoded, indexed copy of what the store holds, kept exact
// against the store by the cache-coherence protocol described on Cache
// (range counts of meta.lastUpdated and the store's change counter), so
// any number of gateway processes can write and read one database with no
// invalidation message.
//
// It owns the Cache (freshness checks shared by concurrent callers, the
// goroutine that runs a queued check, stopped and waited for by Close) and
// the immutable Snapshot with its indexes (by type code, identifier,
// practice, navigation category), and HealthcareService/$match: reading
// its parameters (ParseMatch) and rendering the searchset with the
// OperationOutcome that says why each service was excluded (MatchBundle).
// Service joins them for the API: the HealthcareService write check,
// $match and the matching search (HealthcareService?eligible-age=...,
// search.go). What a service means (its catchment, hours, eligibility)
// and how candidates are ranked is package mapping's; registering the
// write check, $match and the search, and HTTP, are the gateway's.
//
// It imports fhir, fhir/search, fhir/store and mapping; never the gateway.
package directory
