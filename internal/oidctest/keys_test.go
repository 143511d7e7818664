package oidctest

import (
	"crypto/rsa"
	"testing"
)

// TestPooledRSAKeys: the pooled keys are valid 2048-bit keys, each handed
// out once: no two issuers share one.
func TestPooledRSAKeys(t *testing.T) {
	seen := map[string]bool{}
	for range 8 {
		k, err := newPrivateKey(RS256)
		if err != nil {
			t.Fatal(err)
		}
		rk := k.(*rsa.PrivateKey)
		if rk.N.BitLen() != 2048 {
			t.Errorf("a %d-bit key", rk.N.BitLen())
		}
		if err := rk.Validate(); err != nil {
			t.Error(err)
		}
		n := rk.N.String()
		if seen[n] {
			t.Fatal("a pooled key was handed out twice")
		}
		seen[n] = true
	}
}
