package capability

import (
	"reflect"
	"testing"
)

// TestRegistryResource: a type as served; conditional interactions need
// search on the type too.
func TestRegistryResource(t *testing.T) {
	r := &Registry{types: map[string]map[Interaction]bool{}}
	r.Serve("Patient", Read, Create, Update, SearchType)
	r.Serve("Binary", Read, Create, Update, Delete)
	want := Resource{Type: "Patient", Interactions: []string{"read", "update", "create", "search-type"}, Searchable: true,
		ConditionalCreate: true, ConditionalUpdate: true}
	if got := r.Resource("Patient"); !reflect.DeepEqual(got, want) {
		t.Errorf("Patient: %+v, want %+v", got, want)
	}
	want = Resource{Type: "Binary", Interactions: []string{"read", "update", "delete", "create"}}
	if got := r.Resource("Binary"); !reflect.DeepEqual(got, want) {
		t.Errorf("Binary (no search parameters, so no search): %+v, want %+v", got, want)
	}
}

// TestPatientCompartmentTypes: the searchable served types of the
// compartment, Patient first.
func TestPatientCompartmentTypes(t *testing.T) {
	r := &Registry{types: map[string]map[Interaction]bool{}}
	r.Serve("Task", SearchType)
	r.Serve("Observation", SearchType)
	r.Serve("Encounter", Read)
	r.Serve("Organization", SearchType)
	if got, want := r.PatientCompartmentTypes(), []string{"Observation", "Task"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	r.Serve("Patient", SearchType)
	if got, want := r.PatientCompartmentTypes(), []string{"Patient", "Observation", "Task"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
