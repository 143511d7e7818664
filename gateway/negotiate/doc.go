// Package negotiate owns the gateway's content negotiation: the response
// media type picked from _format or Accept (406 for what is not served),
// the request body's Content-Type checked against what a route reads
// (415), and the FHIR versions served. Pure functions over *http.Request;
// refusals are fhir.Errors with their status.
package negotiate
