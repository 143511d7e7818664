// Package sctid checks SNOMED CT identifiers (SCTIDs): the Verhoeff check
// digit, the partition identifier and, for extension identifiers, the
// namespace. It imports only the standard library, so generators and tests
// can use it without the concept set.
//
// An SCTID is 6 to 18 decimal digits without a leading zero. Read from the
// right: the last digit is the Verhoeff check digit, the two before it are
// the partition identifier, and in the long (extension) format the seven
// before those are the namespace identifier:
//
//	short:  item-id  | partition (00 concept, 01 description, 02 relationship) | check
//	long:   item-id  | namespace (7 digits) | partition (10, 11, 12)          | check
//
// A well-formed SCTID proves only that the number was not mistyped; whether
// it names a concept is a question for the loaded concept set.
//
// It imports only the standard library: never Gin, pgx, go-oidc or a
// database driver.
package sctid
