package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
)

// A gateway bench runs on PostgreSQL gets a schema of its own,
// signpost_bench_<random>, dropped when the run ends (Ctrl-C included):
// every run measures an empty store, as the embedded store's temporary
// folder is, instead of a database grown by the runs before it (each left
// thousands of Tasks and AuditEvents behind, and the next one's figures
// were lower for it), and the database bench was pointed at is left as
// it was found.

// scratchSchema creates the run's schema on dbURL and returns the URL
// that uses it and the function that drops it.
func scratchSchema(ctx context.Context, dbURL string, progress func(string, ...any)) (string, func(), error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", nil, usageErr("bench: the database URL does not parse")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	schema := "signpost_bench_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(ctx, outboundTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", nil, fmt.Errorf("bench: connect to PostgreSQL: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		conn.Close(context.Background())
		return "", nil, fmt.Errorf("bench: create the run's schema %s (bench needs CREATE on the database; or run a gateway yourself and give -target): %w", schema, err)
	}
	drop := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outboundTimeout)
		defer cancel()
		if _, err := conn.Exec(dctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			progress("could not drop the run's schema %s: %v", schema, err)
		}
		conn.Close(dctx)
	}
	progress("the run's schema on PostgreSQL: %s, dropped at the end", schema)
	q := u.Query()
	q.Set("options", strings.TrimSpace(withoutSearchPath(q.Get("options"))+" -c search_path="+schema))
	// libpq decodes %20 but not '+'; Encode writes a literal '+' as %2B.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String(), drop, nil
}

// withoutSearchPath is a libpq options string without its search_path
// settings.
func withoutSearchPath(options string) string {
	f := strings.Fields(options)
	out := f[:0]
	for i := 0; i < len(f); i++ {
		switch {
		case f[i] == "-c" && i+1 < len(f) && strings.HasPrefix(f[i+1], "search_path="):
			i++
		case strings.HasPrefix(f[i], "-csearch_path="):
		default:
			out = append(out, f[i])
		}
	}
	return strings.Join(out, " ")
}
