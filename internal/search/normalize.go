package search

import (
	"strings"
	"unicode"
)

// Normalize is the form strings are indexed and searched in: lower case, with the accents of
// Latin letters removed and runs of white space collapsed to one space, so that "Renée" matches
// "renee".
func Normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		r = unicode.ToLower(r)
		if r >= 0xC0 && r < 0x180 {
			if f, ok := folds[r]; ok {
				b.WriteString(f)
				continue
			}
		}
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), " ")
}

// folds maps the lower-case accented letters of Latin-1 and Latin Extended-A to plain letters.
var folds = func() map[rune]string {
	groups := map[string]string{
		"a": "àáâãäåāăą", "c": "çćĉċč", "d": "ďđ", "e": "èéêëēĕėęě", "g": "ĝğġģ", "h": "ĥħ",
		"i": "ìíîïĩīĭįı", "j": "ĵ", "k": "ķ", "l": "ĺļľŀł", "n": "ñńņňŉ", "o": "òóôõöøōŏő",
		"r": "ŕŗř", "s": "śŝşš", "t": "ţťŧ", "u": "ùúûüũūŭůűų", "w": "ŵ", "y": "ýÿŷ", "z": "źżž",
		"ae": "æ", "oe": "œ", "ss": "ß", "th": "þ", "dh": "ð",
	}
	m := map[rune]string{}
	for plain, accented := range groups {
		for _, r := range accented {
			m[r] = plain
		}
	}
	return m
}()
