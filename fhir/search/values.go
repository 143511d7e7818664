package search

import (
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MinTime and MaxTime stand for the open ends of a Period (no start, no
// end) and bound every date range. They are ordinary instants both
// PostgreSQL timestamptz and SQLite (microseconds in an INTEGER) hold, so
// range comparisons need no NULL handling: an open start is MinTime, an open
// end MaxTime.
var (
	MinTime = time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(9999, time.December, 31, 23, 59, 59, 999999000, time.UTC)
)

// DateRange parses a FHIR date, dateTime or instant (any precision from
// year to fractions of a second) into the closed range of UTC instants it
// covers, at microsecond precision: "2024" is [2024-01-01T00:00:00,
// 2024-12-31T23:59:59.999999], "2024-03-05T10:00:00+01:00" is
// [09:00:00, 09:00:00.999999] UTC.
//
// A value without a time zone (a date, or a search value such as
// 2024-03-05T10:00) is taken as UTC. The R4 specification leaves such values
// to the server's time zone; Signpost's is UTC, so that a search means the
// same wherever the server runs. Digits beyond microseconds are truncated.
//
// Search values may also omit the seconds (2024-03-05T10:00); stored values
// are validated as R4 requires before they reach the index.
func DateRange(s string) (low, high time.Time, err error) {
	n := len(s)
	num := func(i, w int) (int, bool) {
		if i+w > n {
			return 0, false
		}
		v := 0
		for j := i; j < i+w; j++ {
			c := s[j]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok := num(0, 4)
	if !ok || year == 0 {
		return low, high, errBad
	}
	month, day := 1, 1
	var next func(time.Time) time.Time
	i := 4
	switch {
	case n == 4:
		next = func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }
	case n >= 7 && s[4] == '-':
		if month, ok = num(5, 2); !ok || month < 1 || month > 12 {
			return low, high, errBad
		}
		i = 7
		if n == 7 {
			next = func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }
			break
		}
		if n < 10 || s[7] != '-' {
			return low, high, errBad
		}
		if day, ok = num(8, 2); !ok || day < 1 || day > daysIn(year, month) {
			return low, high, errBad
		}
		i = 10
		if n == 10 {
			next = func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }
		}
	default:
		return low, high, errBad
	}
	if next != nil {
		low = time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
		return low, clampHigh(next(low)), nil
	}
	// Time of day: Thh:mm[:ss[.fraction]][Z|+hh:mm|-hh:mm]
	if s[i] != 'T' {
		return low, high, errBad
	}
	hour, ok1 := num(i+1, 2)
	if !ok1 || i+3 >= n || s[i+3] != ':' {
		return low, high, errBad
	}
	minute, ok2 := num(i+4, 2)
	if !ok2 || hour > 23 || minute > 59 {
		return low, high, errBad
	}
	i += 6
	sec, nanos := 0, 0
	leap := false
	step := time.Minute
	if i < n && s[i] == ':' {
		var ok bool
		if sec, ok = num(i+1, 2); !ok || sec > 60 {
			return low, high, errBad
		}
		if sec == 60 { // a leap second: the last instant of the minute
			sec, nanos, leap = 59, 999999000, true
		}
		i += 3
		step = time.Second
		if i < n && s[i] == '.' {
			j := i + 1
			for j < n && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			digits := j - i - 1
			if digits == 0 {
				return low, high, errBad
			}
			frac := s[i+1 : j]
			if len(frac) > 6 {
				frac = frac[:6]
			}
			us, _ := strconv.Atoi(frac)
			step = time.Microsecond
			for k := len(frac); k < 6; k++ {
				us *= 10
				step *= 10
			}
			if !leap {
				nanos = us * 1000
			}
			i = j
		}
		if leap {
			step = time.Microsecond
		}
	}
	loc := time.UTC
	switch {
	case i == n:
	case s[i] == 'Z' && i+1 == n:
	case (s[i] == '+' || s[i] == '-' || s[i] == ' ') && i+6 == n && s[i+3] == ':':
		// A space is a '+' that was not percent-encoded in a query string.
		oh, ok1 := num(i+1, 2)
		om, ok2 := num(i+4, 2)
		if !ok1 || !ok2 || oh > 14 || om > 59 {
			return low, high, errBad
		}
		off := oh*3600 + om*60
		if s[i] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	default:
		return low, high, errBad
	}
	low = time.Date(year, time.Month(month), day, hour, minute, sec, nanos, loc).UTC()
	if low.Year() < 1 || low.Year() > 9999 {
		return low, high, errBad
	}
	return low, clampHigh(low.Add(step)), nil
}

var (
	errBad        = errors.New("not a FHIR date, dateTime or instant")
	errBadDecimal = errors.New("not a decimal number")
)

// clampHigh turns the start of the next period into the last microsecond of
// this one, never beyond MaxTime.
func clampHigh(next time.Time) time.Time {
	h := next.Add(-time.Microsecond)
	if h.After(MaxTime) {
		return MaxTime
	}
	return h
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// Decimal is a decimal number as exact plain text ("99.5", "-0.0005",
// "100"), never with an exponent, so PostgreSQL's numeric takes it as it is.
// The empty Decimal is an unbounded end of a range (a Range with no low or
// no high): NULL in SQL, or ±Infinity where a column allows it.
type Decimal string

// Float64 is the nearest float64, for SQLite's REAL columns; an unbounded
// Decimal gives NaN, so callers must test IsUnbounded first.
func (d Decimal) Float64() float64 {
	if d == "" {
		return math.NaN()
	}
	f, _ := strconv.ParseFloat(string(d), 64)
	return f
}

// IsUnbounded reports whether d is an open end of a range.
func (d Decimal) IsUnbounded() bool { return d == "" }

// DecimalRange parses a FHIR decimal or integer (JSON number syntax,
// exponent allowed) into its value and the range its precision implies:
// half a unit of the last significant digit either side, as the R4
// specification reads number and quantity values ("100" is [99.5, 100.5],
// "100.0" is [99.95, 100.05], "1e2" is [50, 150]). The arithmetic is exact
// (math/big), so no float rounding leaks into an index or a query. The range
// is closed; R4 writes [99.5, 100.5), and the single boundary value that
// differs is not worth two comparison operators in every query.
func DecimalRange(s string) (value, low, high Decimal, err error) {
	if v, lo, hi, ok := smallDecimalRange(s); ok {
		return v, lo, hi, nil
	}
	return bigDecimalRange(s)
}

// bigDecimalRange is DecimalRange in math/big, for any size and exponent.
func bigDecimalRange(s string) (value, low, high Decimal, err error) {
	r, unitExp, err := parseDecimal(s)
	if err != nil {
		return "", "", "", err
	}
	half := pow10(unitExp - 1)
	half.Mul(half, big.NewRat(5, 1))
	lo := new(big.Rat).Sub(r, half)
	hi := new(big.Rat).Add(r, half)
	digits := 1 - unitExp
	if digits < 0 {
		digits = 0
	}
	valDigits := -unitExp
	if valDigits < 0 {
		valDigits = 0
	}
	return Decimal(r.FloatString(valDigits)), Decimal(lo.FloatString(digits)), Decimal(hi.FloatString(digits)), nil
}

// parseDecimal returns the exact value of s and the power of ten of its
// last significant digit.
func parseDecimal(s string) (*big.Rat, int, error) {
	errBad := errBadDecimal
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || e > 1000 || e < -1000 {
			return nil, 0, errBad
		}
		mant, exp = s[:i], e
	}
	body := strings.TrimPrefix(strings.TrimPrefix(mant, "-"), "+")
	if body == "" {
		return nil, 0, errBad
	}
	intPart, frac, hasPoint := strings.Cut(body, ".")
	if intPart == "" || (hasPoint && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return nil, 0, errBad
	}
	r, ok := new(big.Rat).SetString(mant)
	if !ok {
		return nil, 0, errBad
	}
	if exp != 0 {
		r.Mul(r, pow10(exp))
	}
	return r, exp - len(frac), nil
}

// smallDecimalRange is DecimalRange for the usual case, a plain decimal of
// at most 17 digits: the same result in int64 arithmetic, without math/big's
// allocations (it runs for every quantity of every write). ok is false
// for anything else, which goes the exact math/big way.
func smallDecimalRange(s string) (value, low, high Decimal, ok bool) {
	neg := false
	body := s
	if len(body) > 0 && (body[0] == '-' || body[0] == '+') {
		neg = body[0] == '-'
		body = body[1:]
	}
	var m int64
	digits, frac := 0, 0
	point := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c >= '0' && c <= '9':
			m = m*10 + int64(c-'0')
			digits++
			if point {
				frac++
			}
		case c == '.' && !point && i > 0 && i < len(body)-1:
			point = true
		default:
			return "", "", "", false
		}
	}
	if digits == 0 || digits > 17 {
		return "", "", "", false
	}
	if neg {
		m = -m
	}
	return Decimal(formatScaled(m, frac)), Decimal(formatScaled(m*10-5, frac+1)), Decimal(formatScaled(m*10+5, frac+1)), true
}

// formatScaled writes n / 10^scale as plain decimal text.
func formatScaled(n int64, scale int) string {
	neg := n < 0
	if neg {
		n = -n
	}
	digits := strconv.FormatInt(n, 10)
	if scale > 0 {
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func pow10(e int) *big.Rat {
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(absInt(e))), nil)
	if e >= 0 {
		return new(big.Rat).SetInt(p)
	}
	return new(big.Rat).SetFrac(big.NewInt(1), p)
}

func absInt(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// NormalizeString is the form string search compares: Unicode NFD with
// combining marks removed, then lower case, so "Élodie" and "ELODIE" both
// become "elodie". Index rows hold it; ParseQuery applies it to search values;
// the store matches with a starts-with (LIKE 'x%') or, for :contains,
// a substring test on it.
func NormalizeString(s string) string {
	ascii, lower := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if c >= 'A' && c <= 'Z' {
			lower = false
		}
	}
	if ascii {
		if lower {
			return s
		}
		return strings.ToLower(s)
	}
	d := norm.NFD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	for _, r := range d {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
