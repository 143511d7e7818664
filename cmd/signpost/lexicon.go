package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/mapping/freetext"
)

// lexiconCmd is `signpost lexicon`: the clinical lexicon's tools.
//
//	signpost lexicon report [-corpus FILE] [-lexicon FILE] [-misses]
//	    read a labelled corpus of free-text requests and print recall,
//	    precision and over-triage per class
//	signpost lexicon codesystem [-base URL]
//	    print the shipped lexicon as the CodeSystem the gateway seeds
func lexiconCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("lexicon needs a command: report or codesystem")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprintln(stderr, commandUsage("lexicon"))
		return errHelp
	case "report":
		fs := flag.NewFlagSet("lexicon report", flag.ContinueOnError)
		fs.SetOutput(stderr)
		corpus := fs.String("corpus", "testdata/clinical-text/corpus.jsonl", "labelled corpus (JSON lines; testdata/clinical-text/README.md)")
		lexFile := fs.String("lexicon", "", "a lexicon in its written form to add to the shipped one (default: the shipped one alone)")
		misses := fs.Bool("misses", false, "list every item not read as labelled")
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return usageErr("%v", err)
		}
		lex, err := reportLexicon(*lexFile)
		if err != nil {
			return err
		}
		f, err := os.Open(*corpus)
		if err != nil {
			return err
		}
		defer f.Close()
		items, err := mapping.ReadCorpus(f)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "lexicon %s, corpus %s (%d requests)\n", lex.Version, *corpus, len(items))
		mapping.EvaluateCorpus(items, lex, time.Now()).Write(stdout, *misses)
		return nil
	case "codesystem":
		fs := flag.NewFlagSet("lexicon codesystem", flag.ContinueOnError)
		fs.SetOutput(stderr)
		base := fs.String("base", "https://signpost.example/fhir", "canonical base of the CodeSystem's url")
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return usageErr("%v", err)
		}
		src, err := freetext.Shipped()
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", " ")
		return enc.Encode(src.CodeSystem(*base + "/CodeSystem/" + freetext.ID))
	}
	return usageErr("unknown lexicon command %q (want report or codesystem)", args[0])
}

// reportLexicon is the shipped lexicon, with a written one added.
func reportLexicon(file string) (*freetext.Lexicon, error) {
	if file == "" {
		return freetext.ShippedLexicon()
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	extra, err := freetext.ParseText(string(b))
	if err != nil {
		return nil, err
	}
	return freetext.WithAdditions(extra)
}
