package mapping

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMeasureFactsRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 10, 0, 0, time.UTC)
	tf := TaskFact{ID: "t1", Status: "in-progress", Practice: "Y99999", Authored: at, Route: "phone", Patient: "nhs:9000000009",
		PatientRef: "Patient/p1", NHS: "9000000009", Problem: "sore\x1f throat", Urgency: "same-day", Allocation: "ServiceRequest/s1", Continuity: true}
	got, err := DecodeTaskFact(tf.Encode())
	require.NoError(t, err)
	want := tf
	want.Problem = "sore throat" // control characters are dropped, never split a field
	assert.Equal(t, want, got)

	af := AllocationFact{ID: "s1", Status: "revoked", Category: "external-referral", Code: PharmacyFirstReferralCode, NeedGroup: "5",
		Authored: at.Add(time.Minute), Replaces: "ServiceRequest/s0", ContinuityRequired: true, DeclinedPharmacyFirst: true}
	ga, err := DecodeAllocationFact(af.Encode())
	require.NoError(t, err)
	assert.Equal(t, af, ga)
	ga, err = DecodeAllocationFact(AllocationFact{ID: "s2"}.Encode())
	require.NoError(t, err)
	assert.True(t, ga.Authored.IsZero(), "no authoredOn stays none")

	pf := PatientFact{ID: "p1", NHS: []string{"9000000009", "9000000017"}, Birth: time.Date(1980, 2, 29, 0, 0, 0, 0, London), Sex: "female"}
	gp, err := DecodePatientFact(pf.Encode())
	require.NoError(t, err)
	assert.Equal(t, pf.NHS, gp.NHS)
	assert.True(t, pf.Birth.Equal(gp.Birth))
	assert.Equal(t, pf.Sex, gp.Sex)

	_, err = DecodeTaskFact("a\x1fb")
	assert.Error(t, err, "a short record is refused, not misread")
	_, err = DecodeAllocationFact(af.Encode() + "\x1fextra")
	assert.Error(t, err)
}

func TestTaskFactOfIgnoresOtherTasks(t *testing.T) {
	n := NewNavigationNames("https://x.example/fhir")
	_, ok := TaskFactOf(n, map[string]any{"resourceType": "Task", "status": "requested", "authoredOn": "2026-11-02T09:00:00Z"})
	assert.False(t, ok, "not a navigation Task")
	_, ok = AllocationFactOf(n, map[string]any{"resourceType": "ServiceRequest", "status": "active"})
	assert.False(t, ok, "not an allocation")
}
