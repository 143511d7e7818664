package cli

import (
	"fmt"
	"net"
	"strings"
)

// ChildEnv is base without the variables that choose the listen address
// and store, plus the store given: PostgreSQL at dbURL, SQLite in dataDir.
func ChildEnv(base []string, dbURL, dataDir string) []string {
	drop := map[string]bool{"DATABASE_URL": true, "DATABASE_URL_FILE": true, "SIGNPOST_ADDR": true, "SIGNPOST_DATA": true}
	env := make([]string, 0, len(base)+2)
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	if dbURL != "" {
		env = append(env, "DATABASE_URL="+dbURL)
	}
	if dataDir != "" {
		env = append(env, "SIGNPOST_DATA="+dataDir)
	}
	return env
}

// FreeLoopbackAddr asks the kernel for a free port. Another process may
// take it before the gateway listens; the gateway then fails to start and
// says so.
func FreeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// ExitDescription says how a child process ended: "exit status 0" for
// success, else its error.
func ExitDescription(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
