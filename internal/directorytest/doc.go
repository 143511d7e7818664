// Package directorytest generates directory-of-services entries for tests
// and benchmarks: realistic HealthcareServices in the directory
// representation (mapping/directory.go), deterministic for a seed. It is
// test support, imported only by _test files.
package directorytest
