package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/signpost-fhir/signpost/snomed/internal/shipped"
)

func main() {
	in := flag.String("in", "", "verified-codes.csv")
	out := flag.String("out", "", "file to write")
	taken := flag.String("taken", "", "date the set was taken, YYYY-MM-DD")
	flag.Parse()
	if err := run(*in, *out, *taken); err != nil {
		fmt.Fprintln(os.Stderr, "gencodes:", err)
		os.Exit(1)
	}
}

func run(in, out, taken string) error {
	if in == "" || out == "" {
		return fmt.Errorf("-in and -out are required")
	}
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	gen, err := shipped.Generate(data, taken)
	if err != nil {
		return err
	}
	return os.WriteFile(out, gen, 0o644)
}
