// Package demo makes the demonstration history of navigations that gives
// the success-measures dashboard something to show in development mode:
// eight whole weeks (Monday to Sunday) and this week's days so far of patient contacts at the demo practice (Y99999),
// each decided by the real navigation engine (package mapping) with the
// stored demo protocol, directory and allocation ConceptMap, at a
// backdated clock, and stored through the store one transaction per
// contact.
//
// The contacts are synthetic (generated patients with test-range NHS
// numbers); the shape of demand is realistic: a Monday 8am peak, phone,
// online and walk-in routes, every age band, both sexes, need groups 1 to
// 11, patients declining Pharmacy First, and patients coming back about
// the same problem within two weeks.
//
// Seeding is idempotent: every resource has a fixed id derived from the
// day and the contact's number that day, a day's contacts are generated
// from a generator seeded with the date (the same day always gives the
// same contacts), and a contact whose Task is already stored is skipped.
// A later start adds the days since the last one.
package demo
