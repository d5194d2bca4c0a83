package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// valid reports whether d is one JSON value with optional white space around it, by the scanner.
func valid(d []byte) bool {
	i := SkipWS(d, 0)
	end, ok := Skip(d, i, 0)
	return ok && SkipWS(d, end) == len(d)
}

var samples = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e+10`, `-12.25E-3`, `true`, `false`, `null`,
	`{"a":[1,2,{"b":null}],"c":"\u00e9\ud83d\ude00\n"}`, ` [ 1 , "x" ] `,
	`"plain ascii text longer than eight bytes"`, `"caf\u00e9 and café"`,
	`01`, `1.`, `.5`, `1e`, `-`, `+1`, `{"a"}`, `{"a":1,}`, `[1,]`, `[1 2]`, `{1:2}`,
	`"unterminated`, `"bad \x escape"`, "\"control \x01 char\"", "\"\xff\xfe\"", `"\ud800"`,
	`tru`, `nul`, `[`, `{"a":`, `""""`, `{"a":1}}`,
}

// reference is encoding/json's verdict, plus RFC 8259's rule that JSON text is UTF-8 (which
// encoding/json does not enforce inside strings).
func reference(d []byte) bool { return json.Valid(d) && utf8.Valid(d) }

func TestAgainstEncodingJSON(t *testing.T) {
	for _, s := range samples {
		if got, want := valid([]byte(s)), reference([]byte(s)); got != want {
			t.Errorf("%q: scanner %v, encoding/json %v", s, got, want)
		}
	}
}

func TestMaxDepth(t *testing.T) {
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	deep := "[" + ok + "]"
	if !valid([]byte(ok)) {
		t.Errorf("nesting of %d refused", MaxDepth)
	}
	if valid([]byte(deep)) {
		t.Errorf("nesting of %d accepted", MaxDepth+1)
	}
}

func TestUnescape(t *testing.T) {
	for _, s := range []string{`"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\ud83d\ude00"`, `"lone \ud800 surrogate"`, `"\udc00"`, `"plain"`} {
		end, _, ok := String([]byte(s), 0)
		if !ok || end != len(s) {
			t.Fatalf("%q: not one string", s)
		}
		var want string
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatal(err)
		}
		if got := string(Unescape(nil, []byte(s[1:len(s)-1]))); got != want {
			t.Errorf("%q: Unescape %q, encoding/json %q", s, got, want)
		}
	}
}

func FuzzScan(f *testing.F) {
	for _, s := range samples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		if strings.Count(string(d), "[")+strings.Count(string(d), "{") >= MaxDepth {
			return // encoding/json allows deeper nesting
		}
		if got, want := valid(d), reference(d); got != want {
			t.Fatalf("%q: scanner %v, encoding/json %v", d, got, want)
		}
		if len(d) > 0 && d[0] == '"' {
			if end, esc, ok := String(d, 0); ok && esc {
				if u := Unescape(nil, d[1:end-1]); !utf8.Valid(u) {
					t.Fatalf("%q: Unescape gave invalid UTF-8", d)
				}
			}
		}
	})
}
