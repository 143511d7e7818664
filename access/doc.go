// Package access lists the type-level permissions a FHIR interaction
// needs: a search (with its chains, _has, _include and _revinclude), a
// Bundle entry, the conditional references in a resource. The gateway
// asks auth.Principal.Authorize for each before touching the store (a
// refusal is a 403 there).
//
// The table, per interaction:
//
//	read, vread, history of a type or instance   read on the type
//	history of the system                        only the types the caller may read
//	search                                       search on the type; search on each
//	                                             type a chained parameter or _has
//	                                             tests; read on each type an _include
//	                                             or _revinclude can bring in
//	create / update / patch / delete             create / update / update / delete
//	conditional create, update, patch, delete    the same plus search on the type
//	conditional reference (Patient?identifier=)  search on the referenced type
//	operation                                    what Operation.Permissions declares
//	$validate                                    mode create, update, delete: that
//	                                             permission; profile: read; no mode:
//	                                             any of read, create or update
//	batch / transaction                          each entry as above; a transaction
//	                                             fails as a whole (403 naming the
//	                                             entry), a batch entry alone
//
// It imports auth, fhir/search and fhir/interaction, and knows nothing
// of HTTP.
package access
