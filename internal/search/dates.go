package search

import (
	"time"
)

// Range is the span of time a date, dateTime or instant value stands for, by its precision:
// "2020" is all of 2020, "2020-03-04T10:00:00Z" the whole second. Low and High are inclusive
// unix milliseconds.
type Range struct {
	Low, High int64
}

// ParseDate parses a FHIR date, dateTime or instant (also a dateTime without seconds, which
// search values may use) into its range. A time without a zone is taken as UTC.
func ParseDate(s string) (Range, bool) {
	n := len(s)
	num := func(i, w int) (int, bool) {
		if i+w > n {
			return 0, false
		}
		v := 0
		for _, c := range []byte(s[i : i+w]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok := num(0, 4)
	if !ok {
		return Range{}, false
	}
	month, day := 1, 1
	var start time.Time
	var end time.Time
	switch {
	case n == 4:
		start = time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
		end = start.AddDate(1, 0, 0)
	case n == 7 && s[4] == '-':
		if month, ok = num(5, 2); !ok || month < 1 || month > 12 {
			return Range{}, false
		}
		start = time.Date(year, time.Month(month), 1, 0, 0, 0, 0, time.UTC)
		end = start.AddDate(0, 1, 0)
	case n >= 10 && s[4] == '-' && s[7] == '-':
		if month, ok = num(5, 2); !ok || month < 1 || month > 12 {
			return Range{}, false
		}
		if day, ok = num(8, 2); !ok || day < 1 || day > 31 {
			return Range{}, false
		}
		if n == 10 {
			start = time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
			end = start.AddDate(0, 0, 1)
			break
		}
		if s[10] != 'T' {
			return Range{}, false
		}
		r, ok := parseTime(s, year, month, day)
		return r, ok
	default:
		return Range{}, false
	}
	return Range{Low: start.UnixMilli(), High: end.UnixMilli() - 1}, true
}

// parseTime parses the part of a dateTime from 'T' on.
func parseTime(s string, year, month, day int) (Range, bool) {
	layouts := []struct {
		layout string
		prec   time.Duration
	}{
		{"2006-01-02T15:04:05.999999999Z07:00", 0},
		{"2006-01-02T15:04:05Z07:00", time.Second},
		{"2006-01-02T15:04Z07:00", time.Minute},
		{"2006-01-02T15:04:05.999999999", 0},
		{"2006-01-02T15:04:05", time.Second},
		{"2006-01-02T15:04", time.Minute},
	}
	for _, l := range layouts {
		t, err := time.Parse(l.layout, s)
		if err != nil {
			continue
		}
		if t.Year() != year || int(t.Month()) != month || t.Day() != day {
			return Range{}, false
		}
		prec := l.prec
		if prec == 0 && !hasFraction(s) {
			prec = time.Second // the fractional layouts also match values without a fraction
		}
		lo := t.UnixMilli()
		hi := lo
		if prec > 0 {
			hi = t.Add(prec).UnixMilli() - 1
		}
		return Range{Low: lo, High: hi}, true
	}
	return Range{}, false
}

func hasFraction(s string) bool {
	for i := 19; i < len(s); i++ {
		if s[i] == '.' {
			return true
		}
	}
	return false
}
