package sqlsearch

// IndexVersion is the derivation of the search index rows: the version of
// what RowsOf makes of a stored resource. Both stores record the version
// their index rows were built with (search_index_version) and, when a
// store opens on rows of another version, rebuild the index rows of every
// current resource from its stored body, once.
//
// Bump it whenever RowsOf's output changes for data already stored (a new
// parameter or composite served, an element read differently, a value
// normalised differently); a change that only affects new writes, or only
// the SQL that reads the rows, needs no bump.
//
//   - 1: before composite parameters (a database with no record).
//   - 2: composite parameters' rows, one set per element instance
//     (search.InstanceParam).
const IndexVersion = 2

// IndexVersionBeforeRecord is the version of a database whose index was
// built before versions were recorded.
const IndexVersionBeforeRecord = 1
