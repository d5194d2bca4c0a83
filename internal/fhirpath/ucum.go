package fhirpath

import (
	"strconv"
	"strings"
)

// A small UCUM reader for quantity comparison and arithmetic: it turns a
// unit expression into a factor and a dimension vector over the base units,
// for the units clinical data uses (SI prefixes on metric atoms, customary
// length, mass and volume, time, pressure, energy, amounts, arbitrary
// units). Units it cannot read are compared by their text only.

// dim is a dimension vector: length, mass, time, amount, temperature,
// current, luminosity, and one slot for arbitrary units (international
// units and the like), which are comparable only with themselves.
type dim [8]int8

type unitDef struct {
	factor float64
	d      dim
	arb    string // arbitrary unit name ([iU], Cel): comparable only to the same name
}

var (
	dL   = dim{1}
	dM   = dim{0, 1}
	dT   = dim{0, 0, 1}
	dN   = dim{0, 0, 0, 1}
	dK   = dim{0, 0, 0, 0, 1}
	dA   = dim{0, 0, 0, 0, 0, 1}
	dCd  = dim{0, 0, 0, 0, 0, 0, 1}
	dVol = dim{3}
	dP   = dim{-1, 1, -2} // pressure: g/(m.s2)
	dE   = dim{2, 1, -2}  // energy: g.m2/s2
)

// ucumAtoms are the atoms read without a prefix (metric ones take prefixes).
var ucumAtoms = map[string]struct {
	def    unitDef
	metric bool
}{
	"m": {unitDef{1, dL, ""}, true}, "g": {unitDef{1, dM, ""}, true}, "s": {unitDef{1, dT, ""}, true},
	"mol": {unitDef{1, dN, ""}, true}, "K": {unitDef{1, dK, ""}, true}, "A": {unitDef{1, dA, ""}, true},
	"cd": {unitDef{1, dCd, ""}, true}, "L": {unitDef{1e-3, dVol, ""}, true}, "l": {unitDef{1e-3, dVol, ""}, true},
	"eq": {unitDef{1, dN, ""}, true}, "U": {unitDef{1e-6 / 60, dim{0, 0, -1, 1}, ""}, true},
	"Pa": {unitDef{1000, dP, ""}, true}, "bar": {unitDef{1e8, dP, ""}, true}, "N": {unitDef{1000, dim{1, 1, -2}, ""}, true},
	"J": {unitDef{1000, dE, ""}, true}, "W": {unitDef{1000, dim{2, 1, -3}, ""}, true}, "cal": {unitDef{4184, dE, ""}, true},
	"Hz": {unitDef{1, dim{0, 0, -1}, ""}, true}, "m[Hg]": {unitDef{133322000, dP, ""}, true},
	"m[H2O]": {unitDef{9806650, dP, ""}, true}, "min": {unitDef{60, dT, ""}, false}, "h": {unitDef{3600, dT, ""}, false},
	"d": {unitDef{86400, dT, ""}, false}, "wk": {unitDef{604800, dT, ""}, false}, "mo": {unitDef{2629800, dT, ""}, false},
	"a": {unitDef{31557600, dT, ""}, false}, "[in_i]": {unitDef{0.0254, dL, ""}, false},
	"[ft_i]": {unitDef{0.3048, dL, ""}, false}, "[yd_i]": {unitDef{0.9144, dL, ""}, false},
	"[mi_i]": {unitDef{1609.344, dL, ""}, false}, "[lb_av]": {unitDef{453.59237, dM, ""}, false},
	"[oz_av]": {unitDef{28.349523125, dM, ""}, false}, "[gal_us]": {unitDef{3.785411784e-3, dVol, ""}, false},
	"[qt_us]": {unitDef{0.946352946e-3, dVol, ""}, false}, "[pt_us]": {unitDef{0.473176473e-3, dVol, ""}, false},
	"[foz_us]": {unitDef{29.5735295625e-6, dVol, ""}, false}, "[cup_us]": {unitDef{236.5882365e-6, dVol, ""}, false},
	"[tsp_us]": {unitDef{4.92892159375e-6, dVol, ""}, false}, "[tbs_us]": {unitDef{14.78676478125e-6, dVol, ""}, false},
	"[Cal]": {unitDef{4184000, dE, ""}, false}, "%": {unitDef{0.01, dim{}, ""}, false},
	"[ppm]": {unitDef{1e-6, dim{}, ""}, false}, "[ppb]": {unitDef{1e-9, dim{}, ""}, false},
	"[iU]": {unitDef{1, dim{7: 1}, "[iU]"}, true}, "[IU]": {unitDef{1, dim{7: 1}, "[iU]"}, true},
	"Cel": {unitDef{1, dim{7: 1}, "Cel"}, false}, "[degF]": {unitDef{1, dim{7: 1}, "[degF]"}, false},
	"[pH]": {unitDef{1, dim{7: 1}, "[pH]"}, false}, "deg": {unitDef{1, dim{}, ""}, false},
}

var ucumPrefixes = map[string]float64{
	"Y": 1e24, "Z": 1e21, "E": 1e18, "P": 1e15, "T": 1e12, "G": 1e9, "M": 1e6, "k": 1e3, "h": 1e2, "da": 1e1,
	"d": 1e-1, "c": 1e-2, "m": 1e-3, "u": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15, "a": 1e-18,
}

// calendarSeconds are the calendar durations that equal a UCUM definite
// duration; year and month do not (a calendar year is not 'a').
var calendarSeconds = map[string]float64{
	"week": 604800, "day": 86400, "hour": 3600, "minute": 60, "second": 1, "millisecond": 1e-3,
}

// unitOf returns the factor and dimension of a quantity's unit.
func unitOf(v Value) (unitDef, bool) {
	if v.cal {
		if s, ok := calendarSeconds[v.s]; ok {
			return unitDef{s, dT, ""}, true
		}
		// year and month: comparable only among themselves, in months.
		switch v.s {
		case "year":
			return unitDef{12, dim{7: 1}, "calendar-month"}, true
		case "month":
			return unitDef{1, dim{7: 1}, "calendar-month"}, true
		}
		return unitDef{}, false
	}
	return parseUCUM(v.s)
}

func parseUCUM(s string) (unitDef, bool) {
	if s == "" || s == "1" {
		return unitDef{1, dim{}, ""}, true
	}
	r := ucumReader{s: s}
	u, ok := r.expr()
	if !ok || r.i != len(s) {
		return unitDef{}, false
	}
	return u, true
}

type ucumReader struct {
	s string
	i int
}

func (r *ucumReader) expr() (unitDef, bool) {
	acc := unitDef{1, dim{}, ""}
	op := byte('.')
	if r.i < len(r.s) && r.s[r.i] == '/' {
		op = '/'
		r.i++
	}
	for {
		t, ok := r.term()
		if !ok {
			return acc, false
		}
		acc, ok = combine(acc, t, op)
		if !ok {
			return acc, false
		}
		if r.i >= len(r.s) || (r.s[r.i] != '.' && r.s[r.i] != '/') {
			return acc, true
		}
		op = r.s[r.i]
		r.i++
	}
}

func combine(a, b unitDef, op byte) (unitDef, bool) {
	if a.arb != "" && b.arb != "" {
		return a, false
	}
	out := unitDef{a.factor, a.d, a.arb}
	if b.arb != "" {
		out.arb = b.arb
	}
	if op == '.' {
		out.factor *= b.factor
		for k := range out.d {
			out.d[k] += b.d[k]
		}
	} else {
		out.factor /= b.factor
		for k := range out.d {
			out.d[k] -= b.d[k]
		}
	}
	return out, true
}

func (r *ucumReader) term() (unitDef, bool) {
	s := r.s
	if r.i >= len(s) {
		return unitDef{}, false
	}
	var u unitDef
	switch c := s[r.i]; {
	case c == '(':
		r.i++
		inner, ok := r.expr()
		if !ok || r.i >= len(s) || s[r.i] != ')' {
			return u, false
		}
		r.i++
		u = inner
	case c == '{':
		end := strings.IndexByte(s[r.i:], '}')
		if end < 0 {
			return u, false
		}
		r.i += end + 1
		return unitDef{1, dim{}, ""}, true
	case isDigit(c):
		j := r.i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		n, _ := strconv.ParseFloat(s[r.i:j], 64)
		r.i = j
		if j+1 < len(s) && (s[j] == '*' || s[j] == '^') {
			k := j + 1
			neg := false
			if k < len(s) && (s[k] == '-' || s[k] == '+') {
				neg = s[k] == '-'
				k++
			}
			e := k
			for e < len(s) && isDigit(s[e]) {
				e++
			}
			p, _ := strconv.Atoi(s[k:e])
			if neg {
				p = -p
			}
			r.i = e
			f := 1.0
			for ; p > 0; p-- {
				f *= n
			}
			for ; p < 0; p++ {
				f /= n
			}
			n = f
		}
		u = unitDef{n, dim{}, ""}
	default:
		j := r.i
		for j < len(s) && s[j] != '.' && s[j] != '/' && s[j] != '(' && s[j] != ')' && s[j] != '{' {
			if s[j] == '[' {
				k := strings.IndexByte(s[j:], ']')
				if k < 0 {
					return u, false
				}
				j += k + 1
				continue
			}
			j++
		}
		word := s[r.i:j]
		// A trailing exponent: m2, s-1.
		e := len(word)
		for e > 0 && isDigit(word[e-1]) {
			e--
		}
		if e > 0 && e < len(word) && (word[e-1] == '-' || word[e-1] == '+') {
			e--
		}
		exp := 1
		if e < len(word) && e > 0 {
			exp, _ = strconv.Atoi(word[e:])
			word = word[:e]
		}
		a, ok := atom(word)
		if !ok {
			return u, false
		}
		r.i = j
		if s2 := r.i; s2 < len(s) && s[s2] == '{' {
			end := strings.IndexByte(s[s2:], '}')
			if end < 0 {
				return u, false
			}
			r.i += end + 1
		}
		u = unitDef{1, dim{}, a.arb}
		for k := 0; k < exp; k++ {
			u.factor *= a.factor
			for x := range u.d {
				u.d[x] += a.d[x]
			}
		}
		for k := 0; k > exp; k-- {
			u.factor /= a.factor
			for x := range u.d {
				u.d[x] -= a.d[x]
			}
		}
		return u, true
	}
	return u, true
}

func atom(w string) (unitDef, bool) {
	if a, ok := ucumAtoms[w]; ok {
		return a.def, true
	}
	for _, plen := range []int{2, 1} {
		if len(w) <= plen {
			continue
		}
		p, ok := ucumPrefixes[w[:plen]]
		if !ok {
			continue
		}
		if a, ok := ucumAtoms[w[plen:]]; ok && a.metric {
			d := a.def
			d.factor *= p
			return d, true
		}
	}
	return unitDef{}, false
}

// canonical returns a quantity's value in base units and its unit's
// dimension; ok is false when the unit cannot be read.
func canonical(v Value) (float64, unitDef, bool) {
	u, ok := unitOf(v)
	if !ok {
		return 0, u, false
	}
	return v.f * u.factor, u, true
}

func sameDim(a, b unitDef) bool { return a.d == b.d && a.arb == b.arb }

// quantityCompare orders two quantities; ok is false when their units are
// not comparable.
func quantityCompare(a, b Value) (int, bool) {
	if a.s == b.s && a.cal == b.cal {
		return decCompare(a.f, int(a.sc), b.f, int(b.sc)), true
	}
	x, ua, ok1 := canonical(a)
	y, ub, ok2 := canonical(b)
	if !ok1 || !ok2 || !sameDim(ua, ub) {
		return 0, false
	}
	sc := max(int(a.sc), int(b.sc)) + 6
	return decCompare(x, sc, y, sc), true
}

// quantityEquivalent compares two quantities at the coarser precision, in
// a's unit.
func quantityEquivalent(a, b Value) (bool, bool) {
	x, ua, ok1 := canonical(a)
	y, ub, ok2 := canonical(b)
	if !ok1 || !ok2 || !sameDim(ua, ub) {
		if a.s == b.s && a.cal == b.cal {
			return decEquivalent(a.f, int(a.sc), b.f, int(b.sc)), true
		}
		return false, false
	}
	return decEquivalent(a.f, int(a.sc), y/ua.factor, int(b.sc)) || decEquivalent(x/ub.factor, int(a.sc), b.f, int(b.sc)), true
}

// quantityAdd adds (sign 1) or subtracts b from a, in a's unit.
func quantityAdd(a, b Value, sign float64) (Value, bool) {
	if a.s == b.s && a.cal == b.cal {
		a.f = roundTo(a.f+sign*b.f, max(int(a.sc), int(b.sc)))
		a.sc = max(a.sc, b.sc)
		return a, true
	}
	_, ua, ok1 := canonical(a)
	y, ub, ok2 := canonical(b)
	if !ok1 || !ok2 || !sameDim(ua, ub) {
		return a, false
	}
	a.f = a.f + sign*y/ua.factor
	a.sc = max(a.sc, b.sc)
	return a, true
}

// quantityMul multiplies (div false) or divides two quantities.
func quantityMul(a, b Value, div bool) (Value, bool) {
	x, ua, ok1 := canonical(a)
	y, ub, ok2 := canonical(b)
	if !ok1 || !ok2 || a.cal || b.cal {
		return a, false
	}
	op := byte('.')
	if div {
		op = '/'
		if y == 0 {
			return a, false
		}
	}
	u, ok := combine(ua, ub, op)
	if !ok {
		return a, false
	}
	var f float64
	if div {
		f = x / y
	} else {
		f = x * y
	}
	// Express the result in base units.
	out := Value{kind: KindQuantity, node: NoNode, f: f, s: baseUnitText(u.d), sc: a.sc + b.sc}
	if div {
		out.sc = 8
	}
	return out, true
}

func baseUnitText(d dim) string {
	names := [...]string{"m", "g", "s", "mol", "K", "A", "cd"}
	var parts []string
	for k, n := range names {
		switch e := d[k]; {
		case e == 1:
			parts = append(parts, n)
		case e != 0:
			parts = append(parts, n+strconv.Itoa(int(e)))
		}
	}
	if len(parts) == 0 {
		return "1"
	}
	return strings.Join(parts, ".")
}
