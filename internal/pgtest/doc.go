// Package pgtest gives tests a real, empty, isolated PostgreSQL database:
// URL returns a connection URL whose search_path is a schema made for that
// test alone and dropped when it ends.
//
// The server is found once per test binary, in this order:
//
//  1. DATABASE_URL, when set (its user must be allowed to create schemas);
//  2. a server on 127.0.0.1:5432, trying the users postgres and the current
//     user on the databases test and postgres (skipped when PGTEST_NO_LOCAL
//     is set, which is how the next step is tested on a machine that has a
//     server);
//  3. a throwaway cluster made with initdb in a temporary folder and started
//     on a free port. initdb and postgres refuse to run as root, so under
//     root they run as the postgres OS user (the same thing runuser does,
//     done through exec credentials so no shell quoting is involved). The
//     server gets the parent-death signal, so it goes away with the test
//     binary even if that is killed; Main also stops it and removes its
//     folder, so packages that may start one call Main from TestMain.
//
// When none works the test is skipped with the reason, except under CI=true,
// where it fails: CI must never pass by skipping the database.
//
// NewCluster gives a test a server of its own instead (initdb in a
// temporary folder, a free port), which it can stop with pg_ctl in any
// shutdown mode and start again, to see what a program does while its
// database goes away and comes back. It needs initdb, postgres and pg_ctl
// whatever server URL would use, and follows the same skip rule.
//
// This package is for tests only; it must not be imported by non-test code.
package pgtest
