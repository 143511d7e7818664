package fhir

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMember(t *testing.T) {
	body := []byte(`{"resourceType":"Task","id":"x","n":[1,{"a":"}]\""},-2.5e3,true,null],
 "meta" : {"security":[{"system":"s","code":"Y1"}]},"status":"requested"}`)
	raw, ok := Member(body, "meta")
	assert.True(t, ok)
	assert.JSONEq(t, `{"security":[{"system":"s","code":"Y1"}]}`, string(raw))
	raw, ok = Member(body, "status")
	assert.True(t, ok)
	assert.Equal(t, `"requested"`, string(raw))
	raw, ok = Member(body, "n")
	assert.True(t, ok)
	assert.Equal(t, `[1,{"a":"}]\""},-2.5e3,true,null]`, string(raw))
	_, ok = Member(body, "absent")
	assert.False(t, ok)
	raw, ok = Member([]byte(`{"m\u0065ta":{"a":1}}`), "meta")
	assert.True(t, ok, "an escaped key")
	assert.Equal(t, `{"a":1}`, string(raw))
	for _, bad := range []string{``, `[]`, `{"meta"`, `{"a":[1,2}`, `{"a":"x`, `{"a" 1,"meta":{}}`} {
		_, ok := Member([]byte(bad), "meta")
		assert.False(t, ok, bad)
	}
}
