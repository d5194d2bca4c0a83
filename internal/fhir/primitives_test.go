package fhir

import (
	"github.com/fhirlake/fhirlake/internal/jsonscan"
	"regexp"
	"testing"
)

// primitiveCheckers maps each primitive with a regex in the definitions to
// its hand-written checker. Number types are checked on JSON number tokens.
var primitiveCheckers = map[string]func([]byte) bool{
	"base64Binary": validBase64,
	"boolean":      func(s []byte) bool { return string(s) == "true" || string(s) == "false" },
	"canonical":    validURI,
	"code":         validCode,
	"date":         validDate,
	"dateTime":     validDateTime,
	"decimal":      func(s []byte) bool { end, ok := jsonscan.Number(s, 0); return ok && end == len(s) },
	"id":           validID,
	"instant":      validInstant,
	"integer": func(s []byte) bool {
		end, ok := jsonscan.Number(s, 0)
		return ok && end == len(s) && integerToken(s, -1<<31)
	},
	"markdown": validString,
	"oid":      validOID,
	"positiveInt": func(s []byte) bool {
		end, ok := jsonscan.Number(s, 0)
		return ok && end == len(s) && integerToken(s, 1)
	},
	"string": validString,
	"time":   validTime,
	"unsignedInt": func(s []byte) bool {
		end, ok := jsonscan.Number(s, 0)
		return ok && end == len(s) && integerToken(s, 0)
	},
	"uri":  validURI,
	"url":  validURI,
	"uuid": validUUID,
}

// Values whose verdicts differ on purpose: the regexes do not bound the
// 32-bit number types, which the FHIR specification does.
var rangeOnly = map[string]bool{"2147483648": true, "-2147483649": true, "99999999999": true}

var primitiveSamples = []string{
	"", " ", "a", "a b", "a  b", " a", "a ", "\t", "x\fy", "true", "false", "True",
	"0", "-0", "00", "01", "1", "-1", "+1", "1.5", "1.", ".5", "1e3", "1E-3", "-", "2147483647", "2147483648", "-2147483648", "-2147483649", "99999999999",
	"1980", "0000", "0001", "1980-01", "1980-13", "1980-00", "1980-01-31", "1980-01-32", "1980-02-30", "1980-1-1", "19800131",
	"2020-05-01T10:00:00Z", "2020-05-01T10:00:00", "2020-05-01T10:00:00.123+01:00", "2020-05-01T24:00:00Z", "2020-05-01T10:00:60Z", "2020-05-01T10:00:00+14:00", "2020-05-01T10:00:00+14:01", "2020-05-01T10:00:00-13:59", "2020-05-01T10:00:00.Z", "2020-05-01T10:00Z", "2020-05-01t10:00:00Z",
	"10:00:00", "10:00:00.5", "10:00", "25:00:00", "10:00:00Z",
	"urn:oid:1.2.3", "urn:oid:3.1", "urn:oid:1", "urn:oid:1.02", "urn:oid:1.0", "urn:oid:1..2", "urn:oid:1.2.",
	"urn:uuid:8f2b7c1e-4a1d-4c55-9a3e-0b1c2d3e4f50", "urn:uuid:8F2B7C1E-4a1d-4c55-9a3e-0b1c2d3e4f50", "urn:uuid:8f2b7c1e4a1d-4c55-9a3e-0b1c2d3e4f50",
	"QUJD", "QUJDRA==", "QUJ", "QU JD", " QUJD QUJD ", "QUJD\nQUJD", "a+/=", "QUJ$",
	"pat-1", "pat.1", "pat_1", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	"http://example.org/a", "http://example.org/a b", "é", "naïve café",
}

func compiledRegexes(t testing.TB) map[string]*regexp.Regexp {
	t.Helper()
	tb, err := loadTables()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*regexp.Regexp{}
	for name, rx := range tb.regexes {
		out[name] = regexp.MustCompile(`^(?:` + rx + `)$`)
	}
	return out
}

func TestPrimitivesMatchRegexes(t *testing.T) {
	t.Parallel()
	rxs := compiledRegexes(t)
	if len(rxs) != len(primitiveCheckers) {
		t.Fatalf("%d regexes in the tables, %d checkers", len(rxs), len(primitiveCheckers))
	}
	for name, rx := range rxs {
		check := primitiveCheckers[name]
		if check == nil {
			t.Errorf("no checker for %s", name)
			continue
		}
		for _, s := range primitiveSamples {
			want := rx.MatchString(s)
			if rangeOnly[s] {
				continue
			}
			if got := check([]byte(s)); got != want {
				t.Errorf("%s(%q) = %v, regex says %v", name, s, got, want)
			}
		}
	}
}

func FuzzPrimitives(f *testing.F) {
	for _, s := range primitiveSamples {
		f.Add(s)
	}
	rxs := compiledRegexes(f)
	f.Fuzz(func(t *testing.T, s string) {
		if rangeOnly[s] || len(s) > 12 && isDigitsOnly(s) {
			return
		}
		for name, rx := range rxs {
			if got, want := primitiveCheckers[name]([]byte(s)), rx.MatchString(s); got != want {
				if (name == "integer" || name == "positiveInt" || name == "unsignedInt") && want && !got {
					continue // out of the 32-bit range
				}
				t.Errorf("%s(%q) = %v, regex says %v", name, s, got, want)
			}
		}
	})
}

func isDigitsOnly(s string) bool {
	for k := 0; k < len(s); k++ {
		if !isDigit(s[k]) && s[k] != '-' {
			return false
		}
	}
	return true
}

func TestLanguageAndUCUM(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		s    string
		lang bool
		ucum bool
	}{
		{"en", true, true},
		{"en-US", true, true},
		{"zh-Hant-TW", true, true},
		{"x-klingon", true, true},
		{"e", false, true},
		{"en--US", false, true},
		{"mg/dL", false, true},
		{"/min", false, true},
		{"{beats}/min", false, true},
		{"mm[Hg]", false, true},
		{"kg/m2", false, true},
		{"10*3/uL", false, true},
		{"mm[Hg", false, false},
		{"mg dL", false, false},
		{"", false, false},
	} {
		if got := validLanguageTag([]byte(c.s)); got != c.lang {
			t.Errorf("validLanguageTag(%q) = %v, want %v", c.s, got, c.lang)
		}
		if got := validUCUM([]byte(c.s)); got != c.ucum {
			t.Errorf("validUCUM(%q) = %v, want %v", c.s, got, c.ucum)
		}
	}
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"text/plain", true},
		{"text/plain; charset=utf-8", true},
		{"application/fhir+json;fhirVersion=4.0", true},
		{`text/plain; a="b;c"`, true},
		{"application/dicom; variant=DICOM WADO-RS", true},
		{"text", false},
		{"text/", false},
		{"/plain", false},
		{"text/plain;", false},
		{"text/plain; charset", false},
		{"json", false},
	} {
		if got := validMimeType([]byte(c.s)); got != c.want {
			t.Errorf("validMimeType(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}
