package freetext

import (
	_ "embed"
	"sync"
)

//go:embed lexicon.txt
var shippedText string

// Shipped is the lexicon Signpost ships, in its written form.
var Shipped = sync.OnceValues(func() (*Source, error) { return ParseText(shippedText) })

// ShippedLexicon is the shipped lexicon compiled.
var ShippedLexicon = sync.OnceValues(func() (*Lexicon, error) {
	src, err := Shipped()
	if err != nil {
		return nil, err
	}
	return Compile(src)
})
