package mapping

import (
	"fmt"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
)

// CheckDirectoryService is the write check of a HealthcareService: the
// directory extensions and codes it carries must be ones matching can read
// (ParseService's error issues). A service using none of them passes: the
// representation adds to R4, it does not require anything of it.
func CheckDirectoryService(r *fhir.Resource, d Directory) []fhir.Issue {
	if r.Type() != "HealthcareService" {
		return nil
	}
	_, issues := ParseService(r.Object(), d)
	return issues
}

// SourceUpdated reads a HealthcareService's publisher timestamp
// (ExtSourceUpdated); zero when it has none or it is malformed.
func SourceUpdated(obj map[string]any, d Directory) time.Time {
	url := d.Extension(ExtSourceUpdated)
	for _, e := range fhir.List(obj["extension"]) {
		if m := object(e); fhir.Str(m["url"]) == url {
			t, _ := time.Parse(time.RFC3339Nano, fhir.Str(m["valueInstant"]))
			return t
		}
	}
	return time.Time{}
}

// Identifiers lists a resource's identifiers that have a system and a
// value: the keys a publisher's entries are found by.
func Identifiers(obj map[string]any) []Identifier {
	var out []Identifier
	for _, v := range fhir.List(obj["identifier"]) {
		if id, _ := viewIdentifier(v); id.System != "" && id.Value != "" {
			out = append(out, Identifier(id))
		}
	}
	return out
}

// CheckPublisherOrder refuses an update that is older, by the publisher's
// own timestamp (ExtSourceUpdated), than the stored entry with the same
// identifier: feeds arrive out of order (a retried batch, two workers, a
// replayed file), and last-writer-wins would let stale content overwrite
// fresh. An update without a timestamp, or over an entry without one,
// cannot be ordered and passes; an equal timestamp passes (a re-sent
// entry). The refusal is a 409 conflict naming both timestamps.
func CheckPublisherOrder(incoming, stored time.Time, storedRef string, d Directory) error {
	if incoming.IsZero() || stored.IsZero() || !incoming.Before(stored) {
		return nil
	}
	return fhir.Errorf(fhir.CodeConflict,
		"%s is the publisher's entry as of %s; this update is from %s, which is older, so it is refused: stale content must not overwrite fresh (send the current entry, with a later %s)",
		storedRef, stored.UTC().Format(time.RFC3339Nano), incoming.UTC().Format(time.RFC3339Nano), ExtSourceUpdated).
		At(fmt.Sprintf("HealthcareService.extension('%s')", d.Extension(ExtSourceUpdated))).
		Because(fhir.DetailStale)
}
