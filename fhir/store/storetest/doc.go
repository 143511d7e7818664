// Package storetest is the contract every store.Store implementation
// passes: Run is the one test suite, and the Bench functions are the
// benchmarks each store package runs on itself, so figures compare.
//
// It is imported only by _test.go files. It must not import a store
// implementation, a database driver, Gin or go-oidc: a store is handed in
// through an open function.
package storetest
