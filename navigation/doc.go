// Package navigation is care navigation's orchestration (docs/navigation.md):
// the write checks of the navigation contract (navigation and
// clinician-review Tasks, the practice protocols, the clinical lexicon),
// and Task/$navigate. The decision itself is mapping's (pure); this
// package gathers what it needs — the Task, the patient, the need group,
// earlier contacts, the practice's protocol, the directory, the
// allocation ConceptMap, the red-flag list, the lexicon, each derived
// once per stored version — and commits the result in one store
// transaction with its deliveries and its AuditEvent. It also seeds the
// shipped lexicon and the demonstration content.
//
// It knows nothing of HTTP: its errors are issue codes and fhir.Details.
// What it needs of the server (the store, tenancy, the registered write
// checks, the outbox, settings) comes through Host, which the gateway
// implements; the gateway registers the write checks and serves
// Task/$navigate by calling Service.Navigate.
package navigation
