package directory

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\x01", "Zoë, Łódź, 東京, 😀", "<html> & stuff", "bad \xff utf8", "\u2028"} {
		var b bytes.Buffer
		writeJSONString(&b, s)
		var back string
		require.NoError(t, json.Unmarshal(b.Bytes(), &back), "%q -> %s", s, b.String())
		want := strings.ToValidUTF8(s, "\uFFFD")
		require.Equal(t, want, back)
	}
}
