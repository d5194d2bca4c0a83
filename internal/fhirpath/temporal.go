package fhirpath

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// temporal is a Date, DateTime or Time value with its precision. Time values
// use only the clock fields.
type temporal struct {
	y               int16
	mo, d, h, mi, s int8
	ms              int16
	prec            int8 // precYear .. precMilli
	tzSet           bool
	tz              int16 // minutes east of UTC
}

const (
	precYear = 1 + iota
	precMonth
	precDay
	precHour
	precMinute
	precSecond
	precMilli
)

// parseDateTimeLiteral reads the text of a @... literal (after the @):
// a Date, or a DateTime when it holds a T.
func parseDateTimeLiteral(s string) (Value, bool) {
	if !strings.Contains(s, "T") {
		t, ok := parseDate(s)
		return Value{kind: KindDate, node: NoNode, t: t}, ok
	}
	t, ok := parseDateTime(s, true)
	return Value{kind: KindDateTime, node: NoNode, t: t}, ok
}

// parseTimeLiteral reads the text of a @T... literal; a zone is not allowed.
func parseTimeLiteral(s string) (Value, bool) {
	t, ok := parseClock(s, false)
	return Value{kind: KindTime, node: NoNode, t: t}, ok
}

func num(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for k := i; k < i+n; k++ {
		if !isDigit(s[k]) {
			return 0, false
		}
		v = v*10 + int(s[k]-'0')
	}
	return v, true
}

// parseDate reads YYYY, YYYY-MM or YYYY-MM-DD.
func parseDate(s string) (temporal, bool) {
	var t temporal
	y, ok := num(s, 0, 4)
	if !ok {
		return t, false
	}
	t.y, t.prec = int16(y), precYear
	if len(s) == 4 {
		return t, true
	}
	if len(s) < 7 || s[4] != '-' {
		return t, false
	}
	mo, ok := num(s, 5, 2)
	if !ok || mo < 1 || mo > 12 {
		return t, false
	}
	t.mo, t.prec = int8(mo), precMonth
	if len(s) == 7 {
		return t, true
	}
	if len(s) != 10 || s[7] != '-' {
		return t, false
	}
	d, ok := num(s, 8, 2)
	if !ok || d < 1 || d > daysIn(y, mo) {
		return t, false
	}
	t.d, t.prec = int8(d), precDay
	return t, true
}

// parseDateTime reads a date, optionally followed by T and a clock time with
// an optional zone. partialTime allows a time of less than second precision
// (and "T" alone), as FHIRPath literals do; FHIR dateTime values need
// seconds once a time is given.
func parseDateTime(s string, partialTime bool) (temporal, bool) {
	ds, ts, hasT := strings.Cut(s, "T")
	t, ok := parseDate(ds)
	if !ok {
		return t, false
	}
	if !hasT {
		return t, true
	}
	if ts == "" {
		return t, partialTime
	}
	c, ok := parseClock(ts, true)
	if !ok || (!partialTime && c.prec < precSecond) || t.prec != precDay {
		return t, false
	}
	c.y, c.mo, c.d = t.y, t.mo, t.d
	return c, true
}

// parseClock reads hh(:mm(:ss(.fff)?)?)? and, with zone, an optional zone.
func parseClock(s string, zone bool) (temporal, bool) {
	var t temporal
	h, ok := num(s, 0, 2)
	if !ok || h > 23 {
		return t, false
	}
	t.h, t.prec = int8(h), precHour
	i := 2
	if i < len(s) && s[i] == ':' {
		mi, ok := num(s, i+1, 2)
		if !ok || mi > 59 {
			return t, false
		}
		t.mi, t.prec, i = int8(mi), precMinute, i+3
		if i < len(s) && s[i] == ':' {
			sec, ok := num(s, i+1, 2)
			if !ok || sec > 60 {
				return t, false
			}
			t.s, t.prec, i = int8(sec), precSecond, i+3
			if i < len(s) && s[i] == '.' {
				j := i + 1
				for j < len(s) && isDigit(s[j]) {
					j++
				}
				if j == i+1 {
					return t, false
				}
				frac := s[i+1 : j]
				for len(frac) < 3 {
					frac += "0"
				}
				ms, _ := strconv.Atoi(frac[:3])
				t.ms, t.prec, i = int16(ms), precMilli, j
			}
		}
	}
	if i == len(s) {
		return t, true
	}
	if !zone {
		return t, false
	}
	z := s[i:]
	if z == "Z" {
		t.tzSet = true
		return t, true
	}
	if len(z) != 6 || (z[0] != '+' && z[0] != '-') || z[3] != ':' {
		return t, false
	}
	zh, ok1 := num(z, 1, 2)
	zm, ok2 := num(z, 4, 2)
	if !ok1 || !ok2 || zh > 14 || zm > 59 {
		return t, false
	}
	t.tzSet, t.tz = true, int16(zh*60+zm)
	if z[0] == '-' {
		t.tz = -t.tz
	}
	return t, true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func (t temporal) format(k Kind) string {
	var sb strings.Builder
	if k == KindTime {
		sb.WriteByte('T')
		t.formatClock(&sb)
		return sb.String()
	}
	fmt.Fprintf(&sb, "%04d", t.y)
	if t.prec >= precMonth {
		fmt.Fprintf(&sb, "-%02d", t.mo)
	}
	if t.prec >= precDay {
		fmt.Fprintf(&sb, "-%02d", t.d)
	}
	if k == KindDateTime && t.prec >= precHour {
		sb.WriteByte('T')
		t.formatClock(&sb)
	}
	if k == KindDateTime && t.tzSet && t.prec >= precHour {
		if t.tz == 0 {
			sb.WriteByte('Z')
		} else {
			z := int(t.tz)
			sign := byte('+')
			if z < 0 {
				sign, z = '-', -z
			}
			fmt.Fprintf(&sb, "%c%02d:%02d", sign, z/60, z%60)
		}
	}
	return sb.String()
}

func (t temporal) formatClock(sb *strings.Builder) {
	fmt.Fprintf(sb, "%02d", t.h)
	if t.prec >= precMinute {
		fmt.Fprintf(sb, ":%02d", t.mi)
	}
	if t.prec >= precSecond {
		fmt.Fprintf(sb, ":%02d", t.s)
	}
	if t.prec >= precMilli {
		fmt.Fprintf(sb, ".%03d", t.ms)
	}
}

// utc converts a value with a zone to UTC.
func (t temporal) utc() temporal {
	if !t.tzSet || t.tz == 0 || t.prec < precHour {
		return t
	}
	g := time.Date(int(t.y), time.Month(t.mo), int(t.d), int(t.h), int(t.mi), int(t.s), int(t.ms)*1e6, time.UTC)
	g = g.Add(-time.Duration(t.tz) * time.Minute)
	u := t
	u.y, u.mo, u.d, u.h, u.mi = int16(g.Year()), int8(g.Month()), int8(g.Day()), int8(g.Hour()), int8(g.Minute())
	u.tz = 0
	return u
}

// compareTemporal orders two temporal values of compatible kinds (Date with
// Date or DateTime, Time with Time). It reports ok = false when the result
// is unknown: the values agree up to the coarser precision but their
// precisions differ, or only one has a zone.
func compareTemporal(a, b temporal, time bool) (int, bool) {
	if a.prec >= precHour && b.prec >= precHour && !time {
		if a.tzSet && b.tzSet {
			a, b = a.utc(), b.utc()
		}
	}
	type comp struct {
		v    int
		prec int8
	}
	ac := [...]comp{{int(a.y), precYear}, {int(a.mo), precMonth}, {int(a.d), precDay}, {int(a.h), precHour}, {int(a.mi), precMinute}, {int(a.s)*1000 + int(a.ms), precSecond}}
	bc := [...]comp{{int(b.y), precYear}, {int(b.mo), precMonth}, {int(b.d), precDay}, {int(b.h), precHour}, {int(b.mi), precMinute}, {int(b.s)*1000 + int(b.ms), precSecond}}
	from := 0
	if time {
		from = 3
	}
	ap, bp := min(a.prec, precSecond), min(b.prec, precSecond)
	zoneDiffers := !time && a.prec >= precHour && b.prec >= precHour && a.tzSet != b.tzSet
	for k := from; k < len(ac); k++ {
		if ac[k].prec > ap || bc[k].prec > bp {
			break
		}
		if zoneDiffers && ac[k].prec >= precHour {
			return 0, false
		}
		switch {
		case ac[k].v < bc[k].v:
			return -1, true
		case ac[k].v > bc[k].v:
			return 1, true
		}
	}
	if ap != bp {
		return 0, false
	}
	return 0, true
}

// calendar units, in the order of the precisions they match.
var unitPrec = map[string]int8{
	"year": precYear, "month": precMonth, "week": precDay, "day": precDay, "hour": precHour,
	"minute": precMinute, "second": precSecond, "millisecond": precMilli,
}

// ucumCalendar maps the UCUM definite durations allowed in date arithmetic
// to calendar units; 'a' and 'mo' are not definite and are refused.
var ucumCalendar = map[string]string{
	"d": "day", "wk": "week", "h": "hour", "min": "minute", "s": "second", "ms": "millisecond",
	"year": "year", "month": "month", "week": "week", "day": "day", "hour": "hour", "minute": "minute",
	"second": "second", "millisecond": "millisecond",
	"years": "year", "months": "month", "weeks": "week", "days": "day", "hours": "hour", "minutes": "minute",
	"seconds": "second", "milliseconds": "millisecond",
}

// addDuration adds sign × q to t. The quantity's value is truncated to a
// whole number of its unit; a unit finer than t's precision is converted to
// t's precision and truncated.
func addDuration(t temporal, k Kind, q Value, sign int) (temporal, error) {
	unit, ok := ucumCalendar[q.s]
	if !ok {
		return t, fmt.Errorf("cannot add a quantity in %s to a date or time", q.unitText())
	}
	amount := math.Trunc(q.f) * float64(sign)
	if unit == "week" {
		unit, amount = "day", amount*7
	}
	prec := t.prec
	up := unitPrec[unit]
	if k == KindTime && up < precHour {
		return t, fmt.Errorf("cannot add %s to a time", unit)
	}
	if up > prec && prec <= precDay && up > precDay {
		// e.g. hours to a date: convert to the value's precision.
		secs := map[string]float64{"hour": 3600, "minute": 60, "second": 1, "millisecond": 0.001}[unit]
		per := map[int8]float64{precDay: 86400, precMonth: 0, precYear: 0}[prec]
		if per == 0 {
			return t, nil
		}
		amount = math.Trunc(amount * secs / per)
		unit = "day"
	} else if up > prec && prec > precDay {
		secs := map[string]float64{"hour": 3600, "minute": 60, "second": 1, "millisecond": 0.001}[unit]
		per := map[int8]float64{precHour: 3600, precMinute: 60, precSecond: 1}[prec]
		amount = math.Trunc(amount * secs / per)
		unit = map[int8]string{precHour: "hour", precMinute: "minute", precSecond: "second"}[prec]
	}
	switch unit {
	case "year", "month":
		months := int(amount)
		if unit == "year" {
			months *= 12
		}
		if prec < precMonth && unit == "month" {
			months = months / 12 * 12
		}
		y := int(t.y) + months/12
		m := int(t.mo)
		if prec >= precMonth {
			m += months % 12
			for m > 12 {
				m, y = m-12, y+1
			}
			for m < 1 {
				m, y = m+12, y-1
			}
		}
		t.y, t.mo = int16(y), int8(m)
		if prec >= precDay && int(t.d) > daysIn(y, m) {
			t.d = int8(daysIn(y, m))
		}
		if y < 1 || y > 9999 {
			return t, fmt.Errorf("date out of range")
		}
		return t, nil
	}
	base := time.Date(int(t.y), time.Month(max(t.mo, 1)), int(max(t.d, 1)), int(t.h), int(t.mi), int(t.s), int(t.ms)*1e6, time.UTC)
	if k == KindTime {
		base = time.Date(2000, 1, 1, int(t.h), int(t.mi), int(t.s), int(t.ms)*1e6, time.UTC)
	}
	var g time.Time
	switch unit {
	case "day":
		g = base.AddDate(0, 0, int(amount))
	case "hour":
		g = base.Add(time.Duration(amount) * time.Hour)
	case "minute":
		g = base.Add(time.Duration(amount) * time.Minute)
	case "second":
		g = base.Add(time.Duration(amount) * time.Second)
	case "millisecond":
		g = base.Add(time.Duration(amount) * time.Millisecond)
	}
	if k != KindTime {
		if g.Year() < 1 || g.Year() > 9999 {
			return t, fmt.Errorf("date out of range")
		}
		t.y, t.mo, t.d = int16(g.Year()), int8(g.Month()), int8(g.Day())
	}
	t.h, t.mi, t.s, t.ms = int8(g.Hour()), int8(g.Minute()), int8(g.Second()), int16(g.Nanosecond()/1e6)
	return t, nil
}

// precisionDigits is FHIRPath precision() of a temporal value.
func (t temporal) precisionDigits(k Kind) int {
	if k == KindTime {
		return [...]int{0, 0, 0, 0, 2, 4, 6, 9}[t.prec]
	}
	return [...]int{0, 4, 6, 8, 10, 12, 14, 17}[t.prec]
}

// boundary computes lowBoundary (high false) or highBoundary of a temporal
// value at the given precision in digits.
func (t temporal) boundary(k Kind, digits int, high bool) (temporal, bool) {
	var prec int8
	if k == KindTime {
		switch digits {
		case 2:
			prec = precHour
		case 4:
			prec = precMinute
		case 6:
			prec = precSecond
		case 9:
			prec = precMilli
		default:
			return t, false
		}
	} else {
		switch digits {
		case 4:
			prec = precYear
		case 6:
			prec = precMonth
		case 8:
			prec = precDay
		case 10:
			prec = precHour
		case 12:
			prec = precMinute
		case 14:
			prec = precSecond
		case 17:
			prec = precMilli
		default:
			return t, false
		}
	}
	r := t
	// An hour-only time is read as hh:00 first, as the test suite expects.
	if r.prec == precHour {
		r.prec = precMinute
	}
	if r.prec < precMonth && prec >= precMonth {
		r.mo = 1
		if high {
			r.mo = 12
		}
	}
	if r.prec < precDay && prec >= precDay {
		r.d = 1
		if high {
			r.d = int8(daysIn(int(r.y), int(r.mo)))
		}
	}
	if r.prec < precHour && prec >= precHour && k != KindTime {
		if high {
			r.h = 23
		} else {
			r.h = 0
		}
	}
	if r.prec < precMinute && prec >= precMinute {
		if high {
			r.mi = 59
		} else {
			r.mi = 0
		}
	}
	if r.prec < precSecond && prec >= precSecond {
		if high {
			r.s = 59
		} else {
			r.s = 0
		}
	}
	if r.prec < precMilli && prec >= precMilli {
		if high {
			r.ms = 999
		} else {
			r.ms = 0
		}
	}
	if k == KindDateTime && prec >= precHour && !r.tzSet {
		r.tzSet = true
		if high {
			r.tz = -12 * 60
		} else {
			r.tz = 14 * 60
		}
	}
	r.prec = prec
	return r, true
}
