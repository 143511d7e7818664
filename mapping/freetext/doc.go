// Package freetext is Signpost's clinical language component: it turns
// what patients, carers and navigators write (the navigation request's
// problem, tried and ice texts) into coded findings with their context,
// which the safety rules and the protocol then use exactly as they use
// coded input (NAVIGATION-API.md, safety rule 9).
//
// The lexicon is data, not code: a FHIR CodeSystem
// ([base]/CodeSystem/clinical-lexicon) whose concepts carry lay-language
// match patterns, a class (red flag, life-critical medicine, complex
// need, symptom, body site, context), a SNOMED CT mapping where a
// verified concept exists, the services an ordinary symptom may be
// directed to, and the public source of the fact. The shipped default is
// written in lexicon.txt, a compact form a clinical safety officer can
// read line by line; the gateway seeds it as the CodeSystem, and a
// practice's or ICB's reviewed additions to the stored CodeSystem take
// effect without a release (they add to the shipped lexicon, never
// remove from it). docs/clinical-safety.md is the hazard log.
//
// What it does to a text, in order: lower-casing and contraction
// expansion; sentence and clause boundaries; dropping determiners;
// British spellings for American ones; misspellings corrected against
// the lexicon's own vocabulary (symmetric-delete candidates confirmed by
// optimal-string-alignment distance, guarded by word length and first
// letter); Snowball stemming; matching every pattern over the words
// (phrases, synonym groups, gaps and unordered co-occurrence within a
// window); then context: negation with scope and pseudo-negations,
// hypothetical, historical and other-experiencer mentions. When in doubt
// a mention counts as present: a match is discounted only when every
// word of it lies in the scope of the same kind of context.
//
// It is pure: no I/O, no clock, no globals that change. It may import
// the standard library, its matching libraries and snomed/sctid; it
// must not import fhir, gateway, a store, Gin, pgx or go-oidc.
package freetext
