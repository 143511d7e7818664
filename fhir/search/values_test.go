package search

import (
	"testing"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
)

func fmtTime(t time.Time) string { return t.UTC().Format(fhir.InstantFormat) }

func TestDateRange(t *testing.T) {
	tests := []struct {
		in, low, high string
	}{
		{"2024", "2024-01-01T00:00:00.000000Z", "2024-12-31T23:59:59.999999Z"},
		{"2024-02", "2024-02-01T00:00:00.000000Z", "2024-02-29T23:59:59.999999Z"},
		{"2023-02", "2023-02-01T00:00:00.000000Z", "2023-02-28T23:59:59.999999Z"},
		{"2024-12", "2024-12-01T00:00:00.000000Z", "2024-12-31T23:59:59.999999Z"},
		{"2024-03-05", "2024-03-05T00:00:00.000000Z", "2024-03-05T23:59:59.999999Z"},
		{"2024-03-05T10:00", "2024-03-05T10:00:00.000000Z", "2024-03-05T10:00:59.999999Z"},
		{"2024-03-05T10:00:00Z", "2024-03-05T10:00:00.000000Z", "2024-03-05T10:00:00.999999Z"},
		{"2024-03-05T10:00:00+01:00", "2024-03-05T09:00:00.000000Z", "2024-03-05T09:00:00.999999Z"},
		{"2024-03-05T10:00:00 01:00", "2024-03-05T09:00:00.000000Z", "2024-03-05T09:00:00.999999Z"},
		{"2024-03-05T23:30:00-05:00", "2024-03-06T04:30:00.000000Z", "2024-03-06T04:30:00.999999Z"},
		{"2024-03-05T10:00:00.5Z", "2024-03-05T10:00:00.500000Z", "2024-03-05T10:00:00.599999Z"},
		{"2024-03-05T10:00:00.123Z", "2024-03-05T10:00:00.123000Z", "2024-03-05T10:00:00.123999Z"},
		{"2024-03-05T10:00:00.123456Z", "2024-03-05T10:00:00.123456Z", "2024-03-05T10:00:00.123456Z"},
		{"2024-03-05T10:00:00.1234567Z", "2024-03-05T10:00:00.123456Z", "2024-03-05T10:00:00.123456Z"},
		{"2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999Z", "2016-12-31T23:59:59.999999Z"},
		{"9999", "9999-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z"},
		{"0001-01-01", "0001-01-01T00:00:00.000000Z", "0001-01-01T23:59:59.999999Z"},
	}
	for _, tc := range tests {
		lo, hi, err := DateRange(tc.in)
		if err != nil {
			t.Errorf("DateRange(%q): %v", tc.in, err)
			continue
		}
		if fmtTime(lo) != tc.low || fmtTime(hi) != tc.high {
			t.Errorf("DateRange(%q) = [%s, %s], want [%s, %s]", tc.in, fmtTime(lo), fmtTime(hi), tc.low, tc.high)
		}
		if lo.Location() != time.UTC || hi.Location() != time.UTC {
			t.Errorf("DateRange(%q) is not in UTC", tc.in)
		}
	}
	for _, bad := range []string{
		"", "24", "20240", "2024-13", "2024-00", "2024-02-30", "2023-02-29", "2024-1-05",
		"2024-03-05T", "2024-03-05T25:00:00Z", "2024-03-05T10:60:00Z", "2024-03-05T10:00:00.Z",
		"2024-03-05T10:00:00+1:00", "2024-03-05T10:00:00X", "0000", "2024/03/05", "abcd",
		"2024-03-05 10:00:00",
	} {
		if _, _, err := DateRange(bad); err == nil {
			t.Errorf("DateRange(%q) succeeded", bad)
		}
	}
	if !MinTime.Before(MaxTime) || MaxTime.Nanosecond() != 999999000 {
		t.Error("sentinels are wrong")
	}
}

func TestDecimalRange(t *testing.T) {
	tests := []struct {
		in, value, low, high string
	}{
		{"100", "100", "99.5", "100.5"},
		{"100.0", "100.0", "99.95", "100.05"},
		{"0.887", "0.887", "0.8865", "0.8875"},
		{"-3", "-3", "-3.5", "-2.5"},
		{"0", "0", "-0.5", "0.5"},
		{"1e2", "100", "50", "150"},
		{"1.5e3", "1500", "1450", "1550"},
		{"1.5E-3", "0.0015", "0.00145", "0.00155"},
		{"66.89999999999999", "66.89999999999999", "66.899999999999985", "66.899999999999995"},
		{"0.1", "0.1", "0.05", "0.15"},
	}
	for _, tc := range tests {
		v, lo, hi, err := DecimalRange(tc.in)
		if err != nil {
			t.Errorf("DecimalRange(%q): %v", tc.in, err)
			continue
		}
		if string(v) != tc.value || string(lo) != tc.low || string(hi) != tc.high {
			t.Errorf("DecimalRange(%q) = %s [%s, %s], want %s [%s, %s]", tc.in, v, lo, hi, tc.value, tc.low, tc.high)
		}
	}
	for _, bad := range []string{"", "-", "1.", ".5", "1..2", "abc", "1e", "1e5000", "1,5", "0x10", "1_000"} {
		if _, _, _, err := DecimalRange(bad); err == nil {
			t.Errorf("DecimalRange(%q) succeeded", bad)
		}
	}
	if f := Decimal("99.5").Float64(); f != 99.5 {
		t.Errorf("Float64 = %v", f)
	}
	if !Decimal("").IsUnbounded() || Decimal("1").IsUnbounded() {
		t.Error("IsUnbounded")
	}
}

// The int64 fast path must agree with math/big wherever it answers.
func TestSmallDecimalRangeAgreesWithBig(t *testing.T) {
	inputs := []string{"0", "-0", "0.0", "1", "-1", "7", "007", "0.5", "-0.5", "0.05", "-0.005", "99.99",
		"123456.789", "-123456.789", "12345678901234567", "0.0000000000000001", "-9.9999999999999999",
		"100", "100.0", "3.14159", "+5", "+0.25"}
	for _, in := range inputs {
		v, lo, hi, ok := smallDecimalRange(in)
		if !ok {
			t.Errorf("smallDecimalRange(%q) declined", in)
			continue
		}
		bv, blo, bhi, err := bigDecimalRange(in)
		if err != nil {
			t.Fatalf("bigDecimalRange(%q): %v", in, err)
		}
		if v != bv || lo != blo || hi != bhi {
			t.Errorf("%q: fast %s [%s, %s], big %s [%s, %s]", in, v, lo, hi, bv, blo, bhi)
		}
	}
	for _, in := range []string{"1e2", "123456789012345678", "1.", ".5", "", "-", "1.2.3"} {
		if _, _, _, ok := smallDecimalRange(in); ok {
			t.Errorf("smallDecimalRange(%q) answered", in)
		}
	}
}

func TestNormalizeString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"smith", "smith"},
		{"SMITH", "smith"},
		{"Élodie", "elodie"},
		{"ÉLODIE", "elodie"},
		{"Zoë Brontë", "zoe bronte"},
		{"Ångström", "angstrom"},
		{"naïve café", "naive cafe"},
		{"Łukasz", "łukasz"}, // Ł is a letter of its own, not L with a mark
		{"Straße", "straße"},
		{"O'Brien-Smith", "o'brien-smith"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := NormalizeString(tc.in); got != tc.want {
			t.Errorf("NormalizeString(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCutString(t *testing.T) {
	long := make([]byte, 0, MaxIndexedString+10)
	for len(long) < MaxIndexedString-1 {
		long = append(long, 'a')
	}
	long = append(long, "éé"...) // é straddles the limit
	got := cutString(string(long))
	if len(got) != MaxIndexedString-1 {
		t.Errorf("cut to %d bytes, want %d (rune boundary)", len(got), MaxIndexedString-1)
	}
}

func FuzzDateRange(f *testing.F) {
	for _, s := range []string{"2024", "2024-02", "2024-02-29", "2024-03-05T10:00:00.123+05:30", "2016-12-31T23:59:60Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lo, hi, err := DateRange(s)
		if err != nil {
			return
		}
		if hi.Before(lo) || lo.Before(MinTime) || hi.After(MaxTime) {
			t.Fatalf("DateRange(%q) = [%v, %v]", s, lo, hi)
		}
	})
}

func FuzzDecimalRange(f *testing.F) {
	for _, s := range []string{"100", "-0.5", "1e2", "66.899999999999991", "12345678901234567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, lo, hi, err := DecimalRange(s)
		if err != nil {
			return
		}
		if !(lo.Float64() <= v.Float64() && v.Float64() <= hi.Float64()) {
			t.Fatalf("DecimalRange(%q) = %s [%s, %s]", s, v, lo, hi)
		}
		if _, _, _, ok := smallDecimalRange(s); ok {
			bv, blo, bhi, err := bigDecimalRange(s)
			if err != nil || bv != v || blo != lo || bhi != hi {
				t.Fatalf("%q: fast and big paths differ", s)
			}
		}
	})
}
