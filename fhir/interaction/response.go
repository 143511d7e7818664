package interaction

import (
	"encoding/json"
	"fmt"

	"github.com/signpost-fhir/signpost/fhir"
)

// EntryAnswer is the answer to one entry of a batch or transaction, as
// the server decided it: its response.status line ("201 Created"), and
// either the OperationOutcome of its failure or the Result its run gave.
type EntryAnswer struct {
	// Status is the entry's response.status.
	Status string
	// Failed: the entry failed, answering with Failure (its
	// OperationOutcome) instead of a Result.
	Failed  bool
	Failure json.RawMessage
	// Result is what the entry's run did (when it did not fail).
	Result Result
	// Info is the OperationOutcome a write answers with under
	// Prefer: return=OperationOutcome.
	Info json.RawMessage
}

// ResponseBundle renders a transaction-response or batch-response (kind)
// of entries, each with its answer: a read's resource (GET), a write's
// location, and under Prefer return (ret) a write's resource
// ("representation") or OperationOutcome ("OperationOutcome").
func ResponseBundle(kind, base, ret string, entries []*Entry, answers []EntryAnswer) ([]byte, error) {
	b := Bundle{ResourceType: "Bundle", Type: kind, Entry: make([]BundleEntry, len(entries))}
	for i, e := range entries {
		a := answers[i]
		if a.Failed {
			b.Entry[i] = BundleEntry{Response: &EntryResponse{Status: a.Status, Outcome: a.Failure}}
			continue
		}
		out := a.Result
		v := out.Version
		resp := &EntryResponse{Status: a.Status}
		if v.VersionID != 0 {
			resp.Etag = fmt.Sprintf(`W/"%d"`, v.VersionID)
			resp.LastModified = v.LastUpdated.UTC().Format(fhir.InstantFormat)
		}
		be := BundleEntry{Response: resp}
		switch {
		case e.Reads():
			if e.Method == "GET" && out.Body != nil {
				be.Resource = out.Body
				if v.ID != "" {
					be.FullURL = base + "/" + v.Type + "/" + v.ID
				}
			}
		case ret == "OperationOutcome":
			resp.Outcome = a.Info
		}
		if e.Writes() && v.ID != "" {
			resp.Location = fmt.Sprintf("%s/%s/_history/%d", v.Type, v.ID, v.VersionID)
			if ret == "representation" {
				be.Resource = v.Body
				be.FullURL = base + "/" + v.Type + "/" + v.ID
			}
		}
		b.Entry[i] = be
	}
	return Marshal(b)
}

// ShownErrors are the failures of a batch's entries as its answer shows
// them: the entries' OperationOutcomes share fhir.MaxIssues, as the
// issues of one do; past it, a failed entry shows its first issue (which
// decides its status, as before) and how many more it had, so a batch of
// entries made of errors cannot make an answer a hundred times its size.
func ShownErrors(errs []error) []error {
	out := make([]error, len(errs))
	shown := 0
	for i, err := range errs {
		out[i] = err
		fe, ok := fhir.AsError(err)
		if err == nil || !ok {
			continue
		}
		if n := len(fe.Issues); shown >= fhir.MaxIssues && n > 1 {
			first := fe.Issues[0]
			out[i] = &fhir.Error{Status: fe.Status, Detail: fe.Detail, Issues: []fhir.Issue{first, {Severity: first.Severity, Code: fhir.CodeTooCostly,
				Diagnostics: fmt.Sprintf("and %d more issues", n-1)}}}
		}
		shown += len(fe.Issues)
	}
	return out
}
