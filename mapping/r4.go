package mapping

import (
	"encoding/json"

	"github.com/signpost-fhir/signpost/snomed"
)

// The R4 shapes of the resources mapping builds (decision.go). Each is a
// typed value encoded as R4 JSON by encoding/json and turned into the
// codec's tree by fhir.Tree, which drops empty elements: a builder sets
// what the decision says and leaves the rest zero. Elements that repeat
// what a client sent (a Task's for and owner, a preferred practitioner)
// are carried as the client's JSON (clientJSON), never decoded into a
// type and encoded again.

// clientJSON is an element of a client's resource, as it was stored.
type clientJSON = any

type r4Coding struct {
	System  string `json:"system,omitempty"`
	Version string `json:"version,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

func codingOf(c snomed.Coding) r4Coding {
	return r4Coding{System: c.System, Version: c.Version, Code: c.Code, Display: c.Display}
}

type r4CodeableConcept struct {
	Coding []r4Coding `json:"coding,omitempty"`
	Text   string     `json:"text,omitempty"`
}

// concept is a CodeableConcept of one coding.
func concept(c snomed.Coding, text string) *r4CodeableConcept {
	return &r4CodeableConcept{Coding: []r4Coding{codingOf(c)}, Text: text}
}

type r4Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

type r4Reference struct {
	Reference  string        `json:"reference,omitempty"`
	Type       string        `json:"type,omitempty"`
	Identifier *r4Identifier `json:"identifier,omitempty"`
	Display    string        `json:"display,omitempty"`
}

type r4Period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type r4Annotation struct {
	Text string `json:"text,omitempty"`
	Time string `json:"time,omitempty"`
}

// serviceRequest is the allocation.
type serviceRequest struct {
	ResourceType       string               `json:"resourceType"`
	ID                 string               `json:"id,omitempty"`
	Status             string               `json:"status"`
	Intent             string               `json:"intent"`
	Category           []*r4CodeableConcept `json:"category,omitempty"`
	Priority           string               `json:"priority,omitempty"`
	Code               *r4CodeableConcept   `json:"code,omitempty"`
	Subject            clientJSON           `json:"subject,omitempty"`
	AuthoredOn         string               `json:"authoredOn,omitempty"`
	OccurrencePeriod   *r4Period            `json:"occurrencePeriod,omitempty"`
	PatientInstruction string               `json:"patientInstruction,omitempty"`
	Requester          *r4Reference         `json:"requester,omitempty"`
	PerformerType      *r4CodeableConcept   `json:"performerType,omitempty"`
	// Performer holds r4References and, for continuity, the client's
	// own Reference to the preferred practitioner.
	Performer      []any                `json:"performer,omitempty"`
	LocationCode   []*r4CodeableConcept `json:"locationCode,omitempty"`
	OrderDetail    []*r4CodeableConcept `json:"orderDetail,omitempty"`
	SupportingInfo []r4Reference        `json:"supportingInfo,omitempty"`
	Note           []r4Annotation       `json:"note,omitempty"`
	Replaces       []r4Reference        `json:"replaces,omitempty"`
}

// taskOutput is one Task.output; exactly one value is set.
type taskOutput struct {
	Type                 *r4CodeableConcept `json:"type"`
	ValueReference       *r4Reference       `json:"valueReference,omitempty"`
	ValueCodeableConcept *r4CodeableConcept `json:"valueCodeableConcept,omitempty"`
	ValueString          *string            `json:"valueString,omitempty"`
	ValueBoolean         *bool              `json:"valueBoolean,omitempty"`
}

// taskUpdate is what a decision changes in the navigation Task; the rest
// of it is the client's, kept as stored.
type taskUpdate struct {
	Status         string             `json:"status,omitempty"`
	BusinessStatus *r4CodeableConcept `json:"businessStatus"`
	LastModified   string             `json:"lastModified"`
	Priority       string             `json:"priority"`
	Output         []taskOutput       `json:"output"`
}

// reviewTask is the clinician-review Task.
type reviewTask struct {
	ResourceType   string             `json:"resourceType"`
	ID             string             `json:"id,omitempty"`
	Status         string             `json:"status"`
	Intent         string             `json:"intent"`
	Priority       string             `json:"priority,omitempty"`
	Code           *r4CodeableConcept `json:"code,omitempty"`
	BusinessStatus *r4CodeableConcept `json:"businessStatus,omitempty"`
	Description    string             `json:"description,omitempty"`
	Focus          *r4Reference       `json:"focus,omitempty"`
	For            clientJSON         `json:"for,omitempty"`
	PartOf         []r4Reference      `json:"partOf,omitempty"`
	AuthoredOn     string             `json:"authoredOn,omitempty"`
	Owner          clientJSON         `json:"owner,omitempty"`
	ReasonCode     *r4CodeableConcept `json:"reasonCode,omitempty"`
}

type provenanceAgent struct {
	Type       *r4CodeableConcept `json:"type,omitempty"`
	Who        *r4Reference       `json:"who"`
	OnBehalfOf *r4Reference       `json:"onBehalfOf,omitempty"`
}

type provenanceEntity struct {
	Role string       `json:"role"`
	What *r4Reference `json:"what"`
}

type provenance struct {
	ResourceType string               `json:"resourceType"`
	ID           string               `json:"id,omitempty"`
	Target       []r4Reference        `json:"target"`
	Recorded     string               `json:"recorded"`
	Policy       []string             `json:"policy,omitempty"`
	Activity     *r4CodeableConcept   `json:"activity,omitempty"`
	Reason       []*r4CodeableConcept `json:"reason,omitempty"`
	Agent        []provenanceAgent    `json:"agent"`
	Entity       []provenanceEntity   `json:"entity,omitempty"`
}

type r4ContactPoint struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
	Use    string `json:"use,omitempty"`
	Rank   int    `json:"rank,omitempty"`
}

type r4Address struct {
	Use        string   `json:"use,omitempty"`
	Type       string   `json:"type,omitempty"`
	Line       []string `json:"line,omitempty"`
	City       string   `json:"city,omitempty"`
	District   string   `json:"district,omitempty"`
	PostalCode string   `json:"postalCode,omitempty"`
	Country    string   `json:"country,omitempty"`
}

type r4Quantity struct {
	Value  json.Number `json:"value,omitempty"`
	Unit   string      `json:"unit,omitempty"`
	System string      `json:"system,omitempty"`
	Code   string      `json:"code,omitempty"`
}

type r4Range struct {
	Low  *r4Quantity `json:"low,omitempty"`
	High *r4Quantity `json:"high,omitempty"`
}

// r4Extension is an extension with one of the value types Signpost
// writes, or (complex) its parts.
type r4Extension struct {
	URL           string         `json:"url"`
	ValueCode     string         `json:"valueCode,omitempty"`
	ValueString   string         `json:"valueString,omitempty"`
	ValueDateTime string         `json:"valueDateTime,omitempty"`
	ValueInstant  string         `json:"valueInstant,omitempty"`
	ValuePeriod   *r4Period      `json:"valuePeriod,omitempty"`
	ValueRange    *r4Range       `json:"valueRange,omitempty"`
	Extension     []*r4Extension `json:"extension,omitempty"`
}

type organization struct {
	ResourceType string               `json:"resourceType"`
	Identifier   []r4Identifier       `json:"identifier,omitempty"`
	Active       bool                 `json:"active"`
	Type         []*r4CodeableConcept `json:"type,omitempty"`
	Name         string               `json:"name,omitempty"`
	Telecom      []r4ContactPoint     `json:"telecom,omitempty"`
	Address      []r4Address          `json:"address,omitempty"`
	PartOf       *r4Reference         `json:"partOf,omitempty"`
}

type locationPosition struct {
	Longitude json.Number `json:"longitude"`
	Latitude  json.Number `json:"latitude"`
}

type location struct {
	ResourceType         string            `json:"resourceType"`
	Identifier           []r4Identifier    `json:"identifier,omitempty"`
	Status               string            `json:"status,omitempty"`
	Name                 string            `json:"name,omitempty"`
	Mode                 string            `json:"mode,omitempty"`
	Address              *r4Address        `json:"address,omitempty"`
	Position             *locationPosition `json:"position,omitempty"`
	ManagingOrganization *r4Reference      `json:"managingOrganization,omitempty"`
}

type hsEligibility struct {
	Extension []*r4Extension `json:"extension,omitempty"`
	Comment   string         `json:"comment,omitempty"`
}

type hsAvailableTime struct {
	DaysOfWeek         []string `json:"daysOfWeek,omitempty"`
	AvailableStartTime string   `json:"availableStartTime,omitempty"`
	AvailableEndTime   string   `json:"availableEndTime,omitempty"`
}

type hsNotAvailable struct {
	Description string    `json:"description"`
	During      *r4Period `json:"during,omitempty"`
}

type healthcareService struct {
	ResourceType   string               `json:"resourceType"`
	Extension      []*r4Extension       `json:"extension,omitempty"`
	Identifier     []r4Identifier       `json:"identifier,omitempty"`
	Active         bool                 `json:"active"`
	ProvidedBy     *r4Reference         `json:"providedBy,omitempty"`
	Category       []*r4CodeableConcept `json:"category,omitempty"`
	Type           []*r4CodeableConcept `json:"type,omitempty"`
	Location       []r4Reference        `json:"location,omitempty"`
	Name           string               `json:"name,omitempty"`
	Comment        string               `json:"comment,omitempty"`
	ExtraDetails   string               `json:"extraDetails,omitempty"`
	Telecom        []r4ContactPoint     `json:"telecom,omitempty"`
	Eligibility    []hsEligibility      `json:"eligibility,omitempty"`
	Characteristic []*r4CodeableConcept `json:"characteristic,omitempty"`
	AvailableTime  []hsAvailableTime    `json:"availableTime,omitempty"`
	NotAvailable   []hsNotAvailable     `json:"notAvailable,omitempty"`
}
