package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrUsage marks configuration and usage errors: one line on stderr,
// exit code 2.
var ErrUsage = errors.New("invalid configuration")

// ErrHelp is returned once a command has printed the help it was asked
// for: exit code 0.
var ErrHelp = errors.New("help requested")

// Usage is a usage error (ErrUsage) with the message given.
func Usage(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// Secret is a secret setting: the flag's value when given, else the
// variable name, else the trimmed content of the file name_FILE names
// (for container secrets). Both variables set is a usage error.
func Secret(flagValue, name string, getenv func(string) string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	v, file := getenv(name), getenv(name+"_FILE")
	if v != "" && file != "" {
		return "", Usage("set %s or %s_FILE, not both", name, name)
	}
	if file == "" {
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", Usage("%s_FILE: %v", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}
