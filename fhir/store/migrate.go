package store

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema change: a file named NNNN_what.sql whose number
// is its version. Each store embeds its own dialect's files and applies the
// missing ones in version order, all in one transaction, at start-up.
//
// The runner is a few lines per store rather than a dependency: it needs a
// lock that serialises gateway processes starting together on one database
// (pg_advisory_xact_lock; BEGIN IMMEDIATE in SQLite) inside the same
// transaction as the changes, which each store expresses in its own driver.
type Migration struct {
	Version int64
	Name    string
	SQL     string
}

// LoadMigrations reads every *.sql file at the root of fsys, ordered by
// version. A file name without a positive version prefix, or two files with
// one version, is an error: a gap in history must be a deliberate choice,
// not a typo.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	seen := map[int64]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || path.Ext(name) != ".sql" {
			continue
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: the name must start with a positive version number and '_'", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, name, v)
		}
		seen[v] = name
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}
