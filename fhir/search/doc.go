// Package search is the pure half of FHIR search: the registry of R4
// search parameters, the index rows a resource gives for them (Extract) and
// the parsing of search query parameters into a typed Query (ParseQuery).
// The stores in fhir/store turn Index rows into SQL rows and a Query into
// SQL; nothing here touches a database, the network or the clock.
//
// # Registry
//
// table_gen.go is generated (go generate ./fhir/search) by internal/gen
// from the official R4 SearchParameter Bundle and StructureDefinitions in
// testdata/fhir. It holds every parameter R4 defines for Task,
// ServiceRequest, HealthcareService, PractitionerRole, Organization,
// Location, Endpoint, Observation, Flag, Provenance, AuditEvent,
// Subscription, Communication, Patient, Practitioner, RelatedPerson,
// CodeSystem, ValueSet, ConceptMap, Measure, MeasureReport, Questionnaire,
// QuestionnaireResponse, Group, Condition, Consent and StructureDefinition,
// plus the common _id, _lastUpdated, _tag, _profile, _security and _source.
// R4 writes one expression for parameters shared by many types
// ("Task.for | ServiceRequest.subject | ..."); the generator keeps, per
// type, only the union parts that start at that type, and records the
// static FHIR type each part ends in, worked out from the
// StructureDefinitions, so extraction knows a Task.code is a
// CodeableConcept without a type model at run time.
//
// Not served (Definition.Supported is false, Extract skips them and
// ParseQuery treats them as unknown): composite parameters with a
// reference component (DocumentReference relationship) or a component
// read through %resource (MolecularSequence *-variant-coordinate), the
// special Location near, and the phonetic name searches of Organization,
// Patient, Practitioner and RelatedPerson. _text, _content, _query,
// _filter and _list have no expression in R4 and are not in the registry;
// _has is handled by ParseQuery.
//
// Composite parameters keep their components (Definition.Components,
// generated from SearchParameter.component): Extract evaluates each
// component's expression on every value of the composite's expression
// and writes its rows under InstanceParam(code, n), so that the store can
// require all components of a search value to match within one element.
//
// Chains and _has nest up to MaxLinks links in all; a deeper one is a 400.
//
// # Expressions
//
// Expressions are evaluated by internal/fhirpath, a FHIRPath subset that
// covers every expression of the registry (see its package doc); each is
// compiled once, on first use of the registry.
//
// # Index values
//
// Dates are ranges of UTC instants at microsecond precision with
// MinTime/MaxTime for open ends; values without a time zone are read as
// UTC. Numbers and quantities carry their exact decimal text and the range
// their precision implies, as Decimal strings computed with math/big; a
// store on SQLite may keep Float64 of them, at the price of float rounding
// at the last digit. Strings are kept normalised (NormalizeString: case and
// accents folded) and exact.
//
// This package imports fhir and golang.org/x/text only; it must never
// import Gin, pgx, go-oidc, a database driver or another Signpost package
// than fhir.
package search
