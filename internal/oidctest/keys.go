package oidctest

import (
	"crypto/rsa"
	_ "embed"
	"fmt"
	"math/big"
	"sync/atomic"
)

// The RSA test keys. Generating a 2048-bit RSA key costs about 65 ms of
// CPU, and every issuer publishes two (RS256, PS256): in the gateway's
// tests that was a fifth of the package's CPU. So keys come from a pool
// generated once (go run genkeys.go; each key is its two 1024-bit primes,
// 256 bytes), each handed out at most once per process, so no two
// issuers, and no issuer and its foreign key, ever share one. When the
// pool runs out, keys are generated. These keys sign test tokens only;
// they are public, and worthless for anything else.

//go:embed testdata/rsa-primes.bin
var rsaPrimes []byte

// rsaPrimeBytes is the size of each prime of a pooled key.
const rsaPrimeBytes = 128

var rsaNext atomic.Int64

// pooledRSAKey is the next unused key of the pool; nil when none is left.
func pooledRSAKey() (*rsa.PrivateKey, error) {
	i := int(rsaNext.Add(1) - 1)
	at := i * 2 * rsaPrimeBytes
	if at+2*rsaPrimeBytes > len(rsaPrimes) {
		return nil, nil
	}
	p := new(big.Int).SetBytes(rsaPrimes[at : at+rsaPrimeBytes])
	q := new(big.Int).SetBytes(rsaPrimes[at+rsaPrimeBytes : at+2*rsaPrimeBytes])
	return rsaKeyFromPrimes(p, q)
}

// rsaKeyFromPrimes is the RSA key with primes p and q and exponent 65537.
func rsaKeyFromPrimes(p, q *big.Int) (*rsa.PrivateKey, error) {
	one := big.NewInt(1)
	e := big.NewInt(65537)
	phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
	d := new(big.Int).ModInverse(e, phi)
	if d == nil {
		return nil, fmt.Errorf("oidctest: pooled RSA key: 65537 has no inverse")
	}
	k := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: new(big.Int).Mul(p, q), E: int(e.Int64())},
		D:         d,
		Primes:    []*big.Int{p, q},
	}
	k.Precompute()
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("oidctest: pooled RSA key: %w", err)
	}
	return k, nil
}
