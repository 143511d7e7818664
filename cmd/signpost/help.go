package main

import (
	"fmt"
	"io"

	"github.com/signpost-fhir/signpost/internal/cli"
)

// errHelp is returned once a command has printed the help it was asked
// for (-h, --help): exit code 0.
var errHelp = cli.ErrHelp

// commands are the subcommands, in the order the overview lists them.
var commands = []struct{ name, args, what string }{
	{"serve", "[flags]", "run the FHIR gateway (the default when no command is given)"},
	{"directory", "import [flags] FILE|URL", "sync NHS Service Search v3 organisations into a gateway's directory"},
	{"lexicon", "report|codesystem [flags]", "measure the clinical lexicon on a labelled corpus, or print it as a CodeSystem"},
	{"version", "", "print the version"},
	{"help", "[command]", "list the commands, or show one command's flags"},
}

// isHelpFlag tells the flags that ask for help.
func isHelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// printOverview writes the list of commands.
func printOverview(w io.Writer) {
	fmt.Fprintln(w, "Signpost: a FHIR R4 gateway for care navigation in general practice.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: signpost [command] [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.what)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `signpost help <command>` for a command's flags. Every flag of serve")
	fmt.Fprintln(w, "also has an environment variable (named in its description). Load tools")
	fmt.Fprintln(w, "(bench, seedtasks) are a command of their own: signpost-bench.")
	fmt.Fprintln(w, "Documentation: "+docsURL)
}

// docsURL is where the documentation lives.
const docsURL = "https://github.com/signpost-fhir/signpost#readme"

// helpArgs are the arguments that make a command print its flags.
func helpArgs(cmd string) ([][]string, bool) {
	switch cmd {
	case "serve":
		return [][]string{{cmd, "-h"}}, true
	case "directory":
		return [][]string{{cmd, "import", "-h"}}, true
	case "lexicon":
		return [][]string{{cmd, "report", "-h"}, {cmd, "codesystem", "-h"}}, true
	case "version", "help":
		return nil, true
	}
	return nil, false
}

// commandUsage is a command's usage line and what it does.
func commandUsage(cmd string) string {
	for _, c := range commands {
		if c.name == cmd {
			return fmt.Sprintf("usage: signpost %s %s\n\n%s", c.name, c.args, c.what)
		}
	}
	return ""
}

// commandSummary is "signpost NAME: what it does".
func commandSummary(cmd string) string {
	for _, c := range commands {
		if c.name == cmd {
			return fmt.Sprintf("signpost %s: %s", c.name, c.what)
		}
	}
	return ""
}
