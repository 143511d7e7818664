package sqlite

import (
	"context"
	"testing"
)

// TestConnectionSettings checks the settings durability and concurrency
// rest on are in force on the connections themselves, not just asked for
// in the DSN.
func TestConnectionSettings(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cases := []struct {
		name, pragma, want string
		writer             bool
	}{
		{"writer journal", "journal_mode", "wal", true},
		{"writer sync FULL", "synchronous", "2", true},
		{"writer busy timeout", "busy_timeout", "10000", true},
		{"writer foreign keys", "foreign_keys", "1", true},
		{"writer may write", "query_only", "0", true},
		{"reader journal", "journal_mode", "wal", false},
		{"reader busy timeout", "busy_timeout", "10000", false},
		{"reader read-only", "query_only", "1", false},
		{"writer temporary files in memory", "temp_store", "2", true},
		{"reader temporary files in memory", "temp_store", "2", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := s.r
			if tc.writer {
				db = s.w
			}
			var got string
			if err := db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
			}
		})
	}
}
