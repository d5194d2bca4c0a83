package fhirpath

// astKind is the kind of a syntax tree node.
type astKind uint8

const (
	aEmpty   astKind = iota // {}
	aLiteral                // lit
	aIdent                  // a member name, or a type name at the start of a path
	aFunc                   // name(args) applied to the input
	aThis                   // $this
	aIndex                  // $index
	aTotal                  // $total
	aConst                  // %name
	aInvoke                 // left . right (right is aIdent or aFunc)
	aIndexer                // left [ args[0] ]
	aUnary                  // op left
	aBinary                 // left op right
	aTypeOp                 // left is/as typeName
)

type ast struct {
	kind  astKind
	op    string // operator, or function name
	name  string // identifier, constant or type name
	lit   Value
	left  *ast
	right *ast
	args  []*ast
	pos   int
}

type parser struct {
	toks []token
	i    int
}

func parse(src string) (*ast, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	e, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, &SyntaxError{t.pos, "unexpected " + quoteTok(t)}
	}
	return e, nil
}

func quoteTok(t token) string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return "'" + t.text + "'"
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tOp && t.text == s
}

func (p *parser) expect(s string) error {
	t := p.next()
	if t.kind != tOp || t.text != s {
		return &SyntaxError{t.pos, "expected '" + s + "', found " + quoteTok(t)}
	}
	return nil
}

// Binary operator precedence, from the loosest.
func binaryPrec(t token) (int, bool) {
	switch t.kind {
	case tIdent:
		if t.delim {
			return 0, false
		}
		switch t.text {
		case "implies":
			return 1, true
		case "or", "xor":
			return 2, true
		case "and":
			return 3, true
		case "in", "contains":
			return 4, true
		case "is", "as":
			return 8, true
		case "div", "mod":
			return 10, true
		}
	case tOp:
		switch t.text {
		case "=", "~", "!=", "!~":
			return 5, true
		case "<", ">", "<=", ">=":
			return 6, true
		case "|":
			return 7, true
		case "+", "-", "&":
			return 9, true
		case "*", "/":
			return 10, true
		}
	}
	return 0, false
}

// expr parses an expression whose binary operators bind tighter than min.
func (p *parser) expr(min int) (*ast, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		prec, ok := binaryPrec(t)
		if !ok || prec <= min {
			return left, nil
		}
		p.next()
		if t.text == "is" || t.text == "as" {
			name, err := p.typeSpecifier()
			if err != nil {
				return nil, err
			}
			left = &ast{kind: aTypeOp, op: t.text, name: name, left: left, pos: t.pos}
			continue
		}
		right, err := p.expr(prec)
		if err != nil {
			return nil, err
		}
		left = &ast{kind: aBinary, op: t.text, left: left, right: right, pos: t.pos}
	}
}

func (p *parser) typeSpecifier() (string, error) {
	t := p.next()
	if t.kind != tIdent {
		return "", &SyntaxError{t.pos, "expected a type name, found " + quoteTok(t)}
	}
	name := t.text
	for p.isOp(".") && p.toks[p.i+1].kind == tIdent {
		p.next()
		name += "." + p.next().text
	}
	return name, nil
}

func (p *parser) unary() (*ast, error) {
	if t := p.peek(); t.kind == tOp && (t.text == "+" || t.text == "-") {
		p.next()
		e, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &ast{kind: aUnary, op: t.text, left: e, pos: t.pos}, nil
	}
	return p.postfix()
}

func (p *parser) postfix() (*ast, error) {
	e, err := p.term()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			p.next()
			t := p.next()
			if t.kind != tIdent {
				return nil, &SyntaxError{t.pos, "expected a name after '.', found " + quoteTok(t)}
			}
			right, err := p.invocation(t)
			if err != nil {
				return nil, err
			}
			e = &ast{kind: aInvoke, left: e, right: right, pos: t.pos}
		case p.isOp("["):
			t := p.next()
			idx, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			e = &ast{kind: aIndexer, left: e, args: []*ast{idx}, pos: t.pos}
		default:
			return e, nil
		}
	}
}

// invocation parses a name or a function call whose name token is t.
func (p *parser) invocation(t token) (*ast, error) {
	if !p.isOp("(") {
		return &ast{kind: aIdent, name: t.text, pos: t.pos}, nil
	}
	p.next()
	f := &ast{kind: aFunc, op: t.text, pos: t.pos}
	if p.isOp(")") {
		p.next()
		return f, nil
	}
	for {
		a, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		f.args = append(f.args, a)
		if p.isOp(",") {
			p.next()
			continue
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return f, nil
	}
}

var calendarUnits = map[string]string{
	"year": "year", "years": "year", "month": "month", "months": "month", "week": "week", "weeks": "week",
	"day": "day", "days": "day", "hour": "hour", "hours": "hour", "minute": "minute", "minutes": "minute",
	"second": "second", "seconds": "second", "millisecond": "millisecond", "milliseconds": "millisecond",
}

func (p *parser) term() (*ast, error) {
	t := p.next()
	switch t.kind {
	case tEOF:
		return nil, &SyntaxError{t.pos, "unexpected end of expression"}
	case tString:
		return &ast{kind: aLiteral, lit: strValue(t.text), pos: t.pos}, nil
	case tNumber:
		v, err := numberLiteral(t.text)
		if err != nil {
			return nil, &SyntaxError{t.pos, err.Error()}
		}
		// A quantity: a number followed by a unit string or a calendar unit.
		u := p.peek()
		if u.kind == tString {
			p.next()
			return &ast{kind: aLiteral, lit: quantityValue(v, u.text), pos: t.pos}, nil
		}
		if u.kind == tIdent && !u.delim {
			if cu, ok := calendarUnits[u.text]; ok {
				p.next()
				q := quantityValue(v, cu)
				q.cal = true
				return &ast{kind: aLiteral, lit: q, pos: t.pos}, nil
			}
		}
		return &ast{kind: aLiteral, lit: v, pos: t.pos}, nil
	case tDate:
		v, ok := parseDateTimeLiteral(t.text)
		if !ok {
			return nil, &SyntaxError{t.pos, "bad date/time literal @" + t.text}
		}
		return &ast{kind: aLiteral, lit: v, pos: t.pos}, nil
	case tTime:
		v, ok := parseTimeLiteral(t.text)
		if !ok {
			// A time with a zone, or otherwise malformed: not a FHIRPath time.
			return &ast{kind: aFunc, op: "$badTime", name: t.text, pos: t.pos}, nil
		}
		return &ast{kind: aLiteral, lit: v, pos: t.pos}, nil
	case tConst:
		return &ast{kind: aConst, name: t.text, pos: t.pos}, nil
	case tSpecial:
		switch t.text {
		case "this":
			return &ast{kind: aThis, pos: t.pos}, nil
		case "index":
			return &ast{kind: aIndex, pos: t.pos}, nil
		}
		return &ast{kind: aTotal, pos: t.pos}, nil
	case tOp:
		switch t.text {
		case "(":
			e, err := p.expr(0)
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return e, nil
		case "{":
			if err := p.expect("}"); err != nil {
				return nil, err
			}
			return &ast{kind: aEmpty, pos: t.pos}, nil
		}
	case tIdent:
		if !t.delim {
			switch t.text {
			case "true":
				return &ast{kind: aLiteral, lit: boolValue(true), pos: t.pos}, nil
			case "false":
				return &ast{kind: aLiteral, lit: boolValue(false), pos: t.pos}, nil
			}
			switch t.text {
			case "implies", "or", "xor", "and", "div", "mod":
				return nil, &SyntaxError{t.pos, "unexpected operator " + quoteTok(t)}
			}
		}
		return p.invocation(t)
	}
	return nil, &SyntaxError{t.pos, "unexpected " + quoteTok(t)}
}
