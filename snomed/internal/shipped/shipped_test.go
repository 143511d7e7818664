package shipped

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const header = "sctid,term,hierarchy,category,source\n"

func TestGenerate(t *testing.T) {
	out, err := Generate([]byte(header+
		"308447003,Referral to physiotherapist (procedure),procedure,A navigation/referral,repo :: path\n"+
		`1036481000000106,Self-referral to IAPT (Improving Access to Psychological Therapies) programme,x,A navigation/referral,"repo :: a, b"`+"\n"), "2026-11-21")
	require.NoError(t, err)
	s := string(out)
	assert.Contains(t, s, "# taken: 2026-11-21\n")
	assert.Contains(t, s, "# source-sha256: ")
	assert.Contains(t, s, "308447003\tReferral to physiotherapist (procedure)\tReferral to physiotherapist\tprocedure\t")
	assert.Contains(t, s, "1036481000000106\t\tSelf-referral to IAPT (Improving Access to Psychological Therapies) programme\t")
	assert.Contains(t, s, "repo :: a, b\n")
	assert.Equal(t, 2, Count(out))
}

func TestGenerateRefuses(t *testing.T) {
	for name, tt := range map[string]struct{ csv, taken, want string }{
		"bad check digit": {header + "308447013,T,h,c,s\n", "2026-11-21", "check digit"},
		"description id":  {header + "1234567014,T,h,c,s\n", "2026-11-21", ""},
		"duplicate":       {header + "308447003,T,h,c,s\n308447003,T,h,c,s\n", "2026-11-21", "already on line"},
		"no source":       {header + "308447003,T,h,c,\n", "2026-11-21", "no source"},
		"bad header":      {"id,term,hierarchy,category,source\n", "2026-11-21", "column 1"},
		"bad date":        {header, "21/11/2026", "YYYY-MM-DD"},
		"tab in term":     {header + "308447003,T\tx,h,c,s\n", "2026-11-21", "tab"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Generate([]byte(tt.csv), tt.taken)
			require.Error(t, err)
			assert.True(t, strings.Contains(err.Error(), tt.want), err.Error())
		})
	}
}
