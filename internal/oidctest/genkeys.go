//go:build ignore

// genkeys writes testdata/rsa-primes.bin, the pool of RSA test keys
// (keys.go): go run genkeys.go [count]
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
)

func main() {
	n := 512
	if len(os.Args) > 1 {
		var err error
		if n, err = strconv.Atoi(os.Args[1]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	out := make([][]byte, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			b := k.Primes[0].FillBytes(make([]byte, 128))
			b = append(b, k.Primes[1].FillBytes(make([]byte, 128))...)
			out[i] = b
		})
	}
	wg.Wait()
	f, err := os.Create("testdata/rsa-primes.bin")
	if err != nil {
		panic(err)
	}
	for _, b := range out {
		if _, err := f.Write(b); err != nil {
			panic(err)
		}
	}
	if err := f.Close(); err != nil {
		panic(err)
	}
}
