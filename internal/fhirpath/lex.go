package fhirpath

import (
	"fmt"
	"github.com/fhirlake/fhirlake/internal/jsonscan"
	"strings"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF     tokKind = iota
	tIdent           // name, keyword or `delimited name`
	tString          // 'text' (value decoded)
	tNumber          // 12, 1.5
	tDate            // @2015-02-04T14:34 (text after @)
	tTime            // @T14:34 (text after @T)
	tConst           // %name, %`name`, %'name'
	tSpecial         // $this, $index, $total
	tOp              // . [ ] ( ) { } , + - * / | & = != ~ !~ < <= > >=
)

type token struct {
	kind  tokKind
	text  string // decoded for strings and delimited identifiers
	pos   int
	delim bool // a `delimited` identifier (never a keyword)
}

// SyntaxError is an expression that does not parse.
type SyntaxError struct {
	Pos int
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("fhirpath: syntax error at %d: %s", e.Pos, e.Msg)
}

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for {
		// Skip white space and comments.
		for i < len(src) {
			c := src[i]
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' {
				i++
				continue
			}
			if c == '/' && i+1 < len(src) && src[i+1] == '/' {
				for i < len(src) && src[i] != '\n' {
					i++
				}
				continue
			}
			if c == '/' && i+1 < len(src) && src[i+1] == '*' {
				end := strings.Index(src[i+2:], "*/")
				if end < 0 {
					return nil, &SyntaxError{i, "unterminated comment"}
				}
				i += end + 4
				continue
			}
			break
		}
		if i >= len(src) {
			toks = append(toks, token{kind: tEOF, pos: i})
			return toks, nil
		}
		start := i
		c := src[i]
		switch {
		case isIdentStart(c):
			for i < len(src) && isIdentChar(src[i]) {
				i++
			}
			toks = append(toks, token{kind: tIdent, text: src[start:i], pos: start})
		case c == '`':
			s, end, err := quoted(src, i, '`')
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tIdent, text: s, pos: start, delim: true})
			i = end
		case c == '\'':
			s, end, err := quoted(src, i, '\'')
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tString, text: s, pos: start})
			i = end
		case c >= '0' && c <= '9':
			for i < len(src) && isDigit(src[i]) {
				i++
			}
			if i+1 < len(src) && src[i] == '.' && isDigit(src[i+1]) {
				i++
				for i < len(src) && isDigit(src[i]) {
					i++
				}
			}
			toks = append(toks, token{kind: tNumber, text: src[start:i], pos: start})
		case c == '@':
			i++
			if i < len(src) && src[i] == 'T' {
				end := lexTime(src, i+1)
				if end == i+1 {
					return nil, &SyntaxError{start, "bad time literal"}
				}
				toks = append(toks, token{kind: tTime, text: src[i+1 : end], pos: start})
				i = end
				break
			}
			end := lexDateTime(src, i)
			if end == i {
				return nil, &SyntaxError{start, "bad date literal"}
			}
			toks = append(toks, token{kind: tDate, text: src[i:end], pos: start})
			i = end
		case c == '%':
			i++
			switch {
			case i < len(src) && (src[i] == '`' || src[i] == '\''):
				s, end, err := quoted(src, i, src[i])
				if err != nil {
					return nil, err
				}
				toks = append(toks, token{kind: tConst, text: s, pos: start})
				i = end
			case i < len(src) && isIdentStart(src[i]):
				j := i
				for j < len(src) && (isIdentChar(src[j]) || src[j] == '-') {
					j++
				}
				toks = append(toks, token{kind: tConst, text: src[i:j], pos: start})
				i = j
			default:
				return nil, &SyntaxError{start, "bad external constant"}
			}
		case c == '$':
			i++
			j := i
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			name := src[i:j]
			if name != "this" && name != "index" && name != "total" {
				return nil, &SyntaxError{start, "unknown variable $" + name}
			}
			toks = append(toks, token{kind: tSpecial, text: name, pos: start})
			i = j
		default:
			op := ""
			if i+1 < len(src) {
				switch src[i : i+2] {
				case "!=", "!~", "<=", ">=":
					op = src[i : i+2]
				}
			}
			if op == "" {
				if !strings.ContainsRune(".[](){},+-*/|&=~<>", rune(c)) {
					r, _ := utf8.DecodeRuneInString(src[i:])
					return nil, &SyntaxError{i, fmt.Sprintf("unexpected character %q", r)}
				}
				op = src[i : i+1]
			}
			toks = append(toks, token{kind: tOp, text: op, pos: start})
			i += len(op)
		}
	}
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }

// quoted reads a quoted string or delimited identifier starting at src[i]
// and returns its decoded text and the offset after the closing quote.
func quoted(src string, i int, q byte) (string, int, error) {
	start := i
	i++
	var sb strings.Builder
	for i < len(src) {
		c := src[i]
		if c == q {
			return sb.String(), i + 1, nil
		}
		if c != '\\' {
			sb.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(src) {
			break
		}
		switch e := src[i+1]; e {
		case '\'', '"', '`', '\\', '/':
			sb.WriteByte(e)
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			if i+6 > len(src) {
				return "", i, &SyntaxError{i, "bad \\u escape"}
			}
			r := jsonscan.Hex4([]byte(src[i+2 : i+6]))
			if r < 0 {
				return "", i, &SyntaxError{i, "bad \\u escape"}
			}
			sb.WriteRune(r)
			i += 6
			continue
		default:
			return "", i, &SyntaxError{i, fmt.Sprintf("bad escape \\%c", e)}
		}
		i += 2
	}
	return "", i, &SyntaxError{start, "unterminated string"}
}

// digits returns the offset after n digits at src[i], or -1.
func digits(src string, i, n int) int {
	if i+n > len(src) {
		return -1
	}
	for k := 0; k < n; k++ {
		if !isDigit(src[i+k]) {
			return -1
		}
	}
	return i + n
}

// lexTime reads hh(:mm(:ss(.fff)?)?)? and an optional zone at src[i]; it
// returns i when there is no time.
func lexTime(src string, i int) int {
	j := digits(src, i, 2)
	if j < 0 {
		return i
	}
	if j+1 < len(src) && src[j] == ':' {
		if k := digits(src, j+1, 2); k > 0 {
			j = k
			if j+1 < len(src) && src[j] == ':' {
				if k := digits(src, j+1, 2); k > 0 {
					j = k
					if j+1 < len(src) && src[j] == '.' && isDigit(src[j+1]) {
						j++
						for j < len(src) && isDigit(src[j]) {
							j++
						}
					}
				}
			}
		}
	}
	return lexZone(src, j)
}

func lexZone(src string, j int) int {
	if j < len(src) && src[j] == 'Z' {
		return j + 1
	}
	if j < len(src) && (src[j] == '+' || src[j] == '-') {
		if k := digits(src, j+1, 2); k > 0 && k < len(src) && src[k] == ':' {
			if k2 := digits(src, k+1, 2); k2 > 0 {
				return k2
			}
		}
	}
	return j
}

// lexDateTime reads YYYY(-MM(-DD)?)?(T time?)? at src[i].
func lexDateTime(src string, i int) int {
	j := digits(src, i, 4)
	if j < 0 {
		return i
	}
	if j < len(src) && src[j] == '-' {
		if k := digits(src, j+1, 2); k > 0 {
			j = k
			if j < len(src) && src[j] == '-' {
				if k := digits(src, j+1, 2); k > 0 {
					j = k
				}
			}
		}
	}
	if j < len(src) && src[j] == 'T' {
		j++
		j = lexTime(src, j)
	}
	return j
}
