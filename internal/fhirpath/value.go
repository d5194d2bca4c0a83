package fhirpath

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Value is one item of a collection: a node of the Doc being evaluated, or a
// System value (a literal or a computed value).
type Value struct {
	kind Kind
	cal  bool    // a quantity whose unit is a calendar duration (year, month, ... written unquoted)
	sc   int16   // digits after the decimal point of a Decimal or a Quantity's value
	node NodeID  // KindNone: the node, or NoNode for a type-only value
	i    int64   // Integer; Boolean as 0 or 1
	f    float64 // Decimal; the value of a Quantity
	s    string  // String; the unit of a Quantity; the type name of type() reflection
	t    temporal
	typ  *Type // type of a type-only value (a reference resolve() could not follow)
}

// kindTypeInfo marks the result of type(): a reflection object with members
// namespace and name (s holds "Namespace.Name").
const kindTypeInfo Kind = 100

func boolValue(b bool) Value {
	v := Value{kind: KindBoolean, node: NoNode}
	if b {
		v.i = 1
	}
	return v
}

func intValue(i int64) Value { return Value{kind: KindInteger, node: NoNode, i: i} }
func decValue(f float64, sc int) Value {
	return Value{kind: KindDecimal, node: NoNode, f: f, sc: int16(sc)}
}
func strValue(s string) Value  { return Value{kind: KindString, node: NoNode, s: s} }
func nodeValue(n NodeID) Value { return Value{node: n} }

func quantityValue(num Value, unit string) Value {
	v := Value{kind: KindQuantity, node: NoNode, s: unit}
	if num.kind == KindInteger {
		v.f = float64(num.i)
	} else {
		v.f, v.sc = num.f, num.sc
	}
	return v
}

// Bool returns the value of a Boolean.
func (v Value) Bool() bool { return v.i != 0 }

// IsNode reports whether v is a node of the Doc; Node returns it.
func (v Value) IsNode() bool { return v.kind == KindNone && v.node != NoNode }

// Node returns the node of a node value (NoNode otherwise).
func (v Value) Node() NodeID {
	if v.kind != KindNone {
		return NoNode
	}
	return v.node
}

// Kind returns the System kind of a System value, KindNone for nodes.
func (v Value) Kind() Kind { return v.kind }

// Str returns the text of a String value.
func (v Value) Str() string { return v.s }

func numberLiteral(text string) (Value, error) {
	if dot := strings.IndexByte(text, '.'); dot >= 0 {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return Value{}, errors.New("bad number " + text)
		}
		return decValue(f, len(text)-dot-1), nil
	}
	i, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		// Too big for an Integer: a Decimal.
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return Value{}, errors.New("bad number " + text)
		}
		return decValue(f, 0), nil
	}
	return intValue(i), nil
}

// parseDecimal reads a JSON number or a decimal string.
func parseDecimal(s string) (Value, bool) {
	if s == "" {
		return Value{}, false
	}
	k := 0
	if s[0] == '-' || s[0] == '+' {
		k = 1
	}
	sawDigit := false
	sc := 0
	exp := 0
	for ; k < len(s); k++ {
		c := s[k]
		if isDigit(c) {
			sawDigit = true
			continue
		}
		if c == '.' {
			j := k + 1
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if j == k+1 {
				return Value{}, false
			}
			sc = j - k - 1
			k = j - 1
			continue
		}
		if c == 'e' || c == 'E' {
			e, err := strconv.Atoi(strings.TrimPrefix(s[k+1:], "+"))
			if err != nil {
				return Value{}, false
			}
			exp = e
			break
		}
		return Value{}, false
	}
	if !sawDigit {
		return Value{}, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return Value{}, false
	}
	sc -= exp
	if sc < 0 {
		sc = 0
	}
	if sc > 30 {
		sc = 30
	}
	return decValue(f, sc), true
}

// roundTo rounds f to sc digits after the point, half away from zero.
func roundTo(f float64, sc int) float64 {
	if sc > 15 {
		return f
	}
	p := math.Pow10(sc)
	r := math.Round(f*p) / p
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return f
	}
	return r
}

func formatDecimal(f float64, sc int) string {
	if sc < 0 {
		sc = 0
	}
	return strconv.FormatFloat(roundTo(f, sc), 'f', sc, 64)
}

// decEqual compares two decimals at the finer of their precisions.
func decEqual(a float64, as int, b float64, bs int) bool {
	s := max(as, bs)
	return roundTo(a, s) == roundTo(b, s)
}

// decCompare orders two decimals at the finer of their precisions.
func decCompare(a float64, as int, b float64, bs int) int {
	s := max(as, bs)
	x, y := roundTo(a, s), roundTo(b, s)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// decEquivalent compares two decimals at the coarser of their precisions.
func decEquivalent(a float64, as int, b float64, bs int) bool {
	s := min(as, bs)
	return roundTo(a, s) == roundTo(b, s)
}

// String renders v as the FHIRPath test suite writes expected outputs: 5,
// 1.50, 'text' without quotes, @2014-01-01, @T10:30, 1 'cm', 4 days.
func (v Value) format(d *Doc) string {
	switch v.kind {
	case KindBoolean:
		if v.Bool() {
			return "true"
		}
		return "false"
	case KindInteger:
		return strconv.FormatInt(v.i, 10)
	case KindDecimal:
		return formatDecimal(v.f, int(v.sc))
	case KindString:
		return v.s
	case KindDate, KindDateTime, KindTime:
		return "@" + v.t.format(v.kind)
	case KindQuantity:
		return formatDecimal(v.f, int(v.sc)) + " " + v.unitText()
	case kindTypeInfo:
		return v.s
	}
	if v.node == NoNode || d == nil {
		if v.typ != nil {
			return v.typ.Name
		}
		return ""
	}
	return d.String(v.node)
}

// unitText renders a quantity's unit: calendar units bare, UCUM quoted.
func (v Value) unitText() string {
	if v.cal {
		u := v.s
		if v.f != 1 {
			u += "s"
		}
		return u
	}
	return "'" + v.s + "'"
}

// toStringValue is FHIRPath toString() of a System value.
func (v Value) toStringValue() string {
	switch v.kind {
	case KindDate, KindDateTime, KindTime:
		return v.t.format(v.kind)
	case KindQuantity:
		return formatDecimal(v.f, int(v.sc)) + " " + v.unitText()
	}
	return v.format(nil)
}

// Text renders v the way the FHIRPath test suite writes values: 5, 1.50,
// text without quotes, @2014-01-01, @T10:30, 1 'cm', 4 days; a node of a
// primitive type as its value.
func (v Value) Text(d *Doc) string { return v.format(d) }

// TypeName returns the name of v's type: the System kind of System values
// (Integer, Quantity), the FHIR type of nodes (code, HumanName).
func (v Value) TypeName(d *Doc) string {
	if v.kind != KindNone {
		if v.kind == kindTypeInfo {
			return "TypeInfo"
		}
		return v.kind.String()
	}
	if v.node == NoNode {
		if v.typ != nil {
			return v.typ.Name
		}
		return ""
	}
	if t := d.nodes[v.node].typ; t != nil {
		return t.Name
	}
	return ""
}
