package audit

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/signpost-fhir/signpost/fhir/interaction"
)

// TestFor: a REST interaction is audited on patient data whatever it
// does, and on the configuration every decision reads only when it
// changes it (a protocol's change for its practice).
func TestFor(t *testing.T) {
	t.Parallel()
	assert.Equal(t, &Entry{Subtype: "read", Action: "R", Type: "Task", ID: "t1", Entry: -1}, For("read", "R", "Task", "t1"))
	assert.Equal(t, &Entry{Subtype: "search-type", Action: "E", Type: "Patient", Entry: -1}, For("search-type", "E", "Patient", ""))
	assert.Nil(t, For("read", "R", "PlanDefinition", "navigation-protocol-a11111"), "reading configuration is not audited")
	assert.Nil(t, For("search-type", "E", "ValueSet", ""))
	assert.Nil(t, For("update", "U", "Organization", "o1"), "not patient data, not configuration")
	assert.Equal(t, &Entry{Subtype: "update", Action: "U", Type: "PlanDefinition", ID: "navigation-protocol-a11111", Entry: -1,
		Practices: []string{"A11111"}}, For("update", "U", "PlanDefinition", "navigation-protocol-a11111"))
	assert.Equal(t, &Entry{Subtype: "delete", Action: "D", Type: "CodeSystem", ID: "c1", Entry: -1}, For("delete", "D", "CodeSystem", "c1"),
		"shared configuration concerns every practice: none named")
}

func TestOperation(t *testing.T) {
	t.Parallel()
	assert.Equal(t, &Entry{Subtype: "operation", Action: "R", Type: "Patient", ID: "p1", Operation: "everything", Entry: -1},
		Operation("everything", "R", "Patient", "p1"))
}

// TestHistory: a history is audited when it may return patient data.
func TestHistory(t *testing.T) {
	t.Parallel()
	assert.Equal(t, &Entry{Subtype: "history-instance", Action: "R", Type: "Task", ID: "t1", Entry: -1}, History("history-instance", "Task", "t1", nil))
	assert.Nil(t, History("history-type", "Organization", "", []string{"Task"}), "a type's history is of that type only")
	assert.Equal(t, &Entry{Subtype: "history-system", Action: "R", Entry: -1}, History("history-system", "", "", []string{"Organization", "Task"}))
	assert.Nil(t, History("history-system", "", "", []string{"Organization", "ValueSet"}))
}

func TestSystemSearch(t *testing.T) {
	t.Parallel()
	values := map[string][]string{"_type": {"Organization,Task"}, "_cursor": {"x"}, "_count": {"5"}}
	assert.Equal(t, &Entry{Subtype: "search-system", Action: "E", Entry: -1, Params: []string{"_count", "_type"}, Types: []string{"Organization", "Task"}},
		SystemSearch([]string{"Organization", "Task"}, values))
	assert.Nil(t, SystemSearch([]string{"Organization"}, values))
}

// TestForEntry: a Bundle entry's interaction, by its method, what it
// reads and what it touches.
func TestForEntry(t *testing.T) {
	t.Parallel()
	type search struct{ interaction.Search }
	tests := []struct {
		entry       interaction.Entry
		patientData bool
		want        *Entry
	}{
		{interaction.Entry{Index: 2, Method: "GET", Type: "Task", ID: "t1"}, true, &Entry{Subtype: "read", Action: "R", Type: "Task", ID: "t1", Entry: 2}},
		{interaction.Entry{Index: 0, Method: "HEAD", Type: "Task", ID: "t1", VID: "3"}, true, &Entry{Subtype: "vread", Action: "R", Type: "Task", ID: "t1"}},
		{interaction.Entry{Index: 1, Method: "GET", Type: "Task", Search: search{}, Query: url.Values{"status": {"ready"}, "_format": {"json"}}}, true,
			&Entry{Subtype: "search-type", Action: "E", Type: "Task", Entry: 1, Params: []string{"status"}}},
		{interaction.Entry{Method: "POST", Type: "Task"}, true, &Entry{Subtype: "create", Action: "C", Type: "Task"}},
		{interaction.Entry{Method: "PUT", Type: "Task", ID: "t1"}, true, &Entry{Subtype: "update", Action: "U", Type: "Task", ID: "t1"}},
		{interaction.Entry{Method: "PATCH", Type: "Task", ID: "t1"}, true, &Entry{Subtype: "patch", Action: "U", Type: "Task", ID: "t1"}},
		{interaction.Entry{Method: "DELETE", Type: "Task", ID: "t1"}, true, &Entry{Subtype: "delete", Action: "D", Type: "Task", ID: "t1"}},
		{interaction.Entry{Method: "GET", Type: "Organization", ID: "o1"}, false, nil},
		{interaction.Entry{Method: "GET", Type: "PlanDefinition", ID: "navigation-protocol-a11111"}, false, nil},
		{interaction.Entry{Method: "DELETE", Type: "PlanDefinition", ID: "navigation-protocol-a11111"}, false,
			&Entry{Subtype: "delete", Action: "D", Type: "PlanDefinition", ID: "navigation-protocol-a11111", Practices: []string{"A11111"}}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, ForEntry(&tc.entry, tc.patientData), "%s %s", tc.entry.Method, tc.entry.Type)
	}
}

func TestOutcomeOf(t *testing.T) {
	t.Parallel()
	assert.Equal(t, Outcome{Code: Success, Desc: "201 Created"}, OutcomeOf(201, "Created"))
	assert.Equal(t, Outcome{Code: Success, Desc: "304 Not Modified"}, OutcomeOf(304, "Not Modified"))
	assert.Equal(t, Outcome{Code: MinorFailure, Desc: "403 Forbidden"}, OutcomeOf(403, "Forbidden"))
	assert.Equal(t, Outcome{Code: SeriousFailure, Desc: "500 Internal Server Error"}, OutcomeOf(500, "Internal Server Error"))
}
