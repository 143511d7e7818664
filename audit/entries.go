package audit

import (
	"slices"
	"strconv"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/fhir/interaction"
)

// Which interactions leave an AuditEvent, and the Entry each starts
// with. The gateway asks here with what it parsed of the request, and
// fills in the rest (the version, the practices, the Outcome) once the
// interaction has run.

// Of starts the Entry of an interaction (its restful-interaction subtype
// and action) on typ/id, audited whatever the type.
func Of(subtype, action, typ, id string) *Entry {
	return &Entry{Subtype: subtype, Action: action, Type: typ, ID: id, Entry: -1}
}

// For starts the Entry of a REST interaction on typ/id when it is
// audited: any interaction on a patient-linked type, and a change
// (action C, U or D) of the configuration every decision reads
// (ConfigAudited), for the practices ConfigPractices names. Nil when it
// is not audited.
func For(subtype, action, typ, id string) *Entry {
	if auth.IsPatientLinked(typ) {
		return Of(subtype, action, typ, id)
	}
	if action != "R" && action != "E" && ConfigAudited(typ) {
		e := Of(subtype, action, typ, id)
		e.Practices = ConfigPractices(typ, id)
		return e
	}
	return nil
}

// Operation starts the Entry of operation $name invoked on typ/id
// (either may be empty): action E, or R for an operation that only reads
// a patient's record ($everything).
func Operation(name, action, typ, id string) *Entry {
	e := Of("operation", action, typ, id)
	e.Operation = name
	return e
}

// History starts the Entry of a history interaction (subtype
// history-instance, history-type or history-system) on typ/id when it
// may return patient data: typ is patient-linked or, for the history of
// the whole system, one of types, those the caller may read, is. Nil
// otherwise.
func History(subtype, typ, id string, types []string) *Entry {
	if typ != "" {
		types = []string{typ}
	}
	if !slices.ContainsFunc(types, auth.IsPatientLinked) {
		return nil
	}
	return Of(subtype, "R", typ, id)
}

// SystemSearch starts the Entry of a search of several types
// ([base]?_type=...) when one of them is patient-linked: with the
// parameter names sent (values) and the types searched. Nil otherwise.
func SystemSearch(types []string, values map[string][]string) *Entry {
	if !slices.ContainsFunc(types, auth.IsPatientLinked) {
		return nil
	}
	e := Of("search-system", "E", "", "")
	e.Params, e.Types = SearchParams(values), types
	return e
}

// ForEntry starts the Entry of a batch or transaction entry when it is
// audited: it touches patient data (patientData: what it needs includes
// a patient-linked type), or it changes (writes or deletes) the
// configuration every decision reads. Nil otherwise.
func ForEntry(e *interaction.Entry, patientData bool) *Entry {
	config := (e.Writes() || e.Method == "DELETE") && ConfigAudited(e.Type)
	if !patientData && !config {
		return nil
	}
	a := &Entry{Type: e.Type, ID: e.ID, Entry: e.Index}
	if config {
		a.Practices = ConfigPractices(e.Type, e.ID)
	}
	switch e.Method {
	case "GET", "HEAD":
		a.Subtype, a.Action = "read", "R"
		switch {
		case e.Search != nil:
			a.Subtype, a.Action = "search-type", "E"
			a.Params = SearchParams(e.Query)
		case e.VID != "":
			a.Subtype = "vread"
		}
	case "POST":
		a.Subtype, a.Action = "create", "C"
	case "PUT":
		a.Subtype, a.Action = "update", "U"
	case "PATCH":
		a.Subtype, a.Action = "patch", "U"
	case "DELETE":
		a.Subtype, a.Action = "delete", "D"
	}
	return a
}

// SearchParams are the names a search is audited with: its parameters'
// (ParamNames), without the paging cursor and the answer's format.
func SearchParams(values map[string][]string) []string {
	return ParamNames(values, interaction.CursorParam, "_format", "_pretty")
}

// OutcomeOf is the Outcome of an access answered with status (an HTTP
// status code; text is its reason phrase): a success below 400, a minor
// failure (a refusal, a miss) below 500, a serious failure otherwise;
// outcomeDesc is the status and its text ("404 Not Found").
func OutcomeOf(status int, text string) Outcome {
	code := SeriousFailure
	switch {
	case status < 400:
		code = Success
	case status < 500:
		code = MinorFailure
	}
	return Outcome{Code: code, Desc: strconv.Itoa(status) + " " + text}
}
