package fhirpath

import (
	"strings"
	"unicode/utf8"
)

// NarrativeError is a problem with the XHTML of a narrative (Narrative.div).
type NarrativeError struct {
	// Rule is the R4 invariant the problem breaks: txt-1 (well-formed XHTML
	// with only the allowed elements and attributes) or txt-2 (some
	// non-whitespace content).
	Rule string
	Msg  string
}

func (e *NarrativeError) Error() string { return e.Msg }

func narrErr(rule, msg string) *NarrativeError { return &NarrativeError{Rule: rule, Msg: msg} }

// The elements and attributes the R4 narrative rules allow: the basic HTML
// 4.0 formatting elements (chapters 7-11 except forms), tables, links,
// images, and the global attributes (narrative.html, "The XHTML content SHALL
// NOT contain a head, a body, external stylesheet references, deprecated
// elements, scripts, forms, base/link/xlink, frames, iframes, objects or
// event related attributes").
var narrativeElements = setOf("p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "b", "em", "i", "strong",
	"small", "big", "tt", "dfn", "q", "var", "abbr", "acronym", "cite", "blockquote", "hr", "address", "bdo", "kbd",
	"sub", "sup", "ul", "ol", "li", "dl", "dt", "dd", "pre", "table", "caption", "colgroup", "col", "thead", "tr",
	"tfoot", "tbody", "th", "td", "code", "samp", "img", "map", "area")

var narrativeAttrs = setOf("title", "style", "class", "id", "lang", "xml:lang", "dir", "accesskey", "tabindex",
	"span", "width", "align", "valign", "char", "charoff", "abbr", "axis", "headers", "scope", "rowspan", "colspan")

var narrativeElemAttrs = setOf("a.href", "a.name", "img.src", "img.border", "div.xmlns", "blockquote.cite", "q.cite",
	"a.charset", "a.type", "a.hreflang", "a.rel", "a.rev", "a.shape", "a.coords", "img.alt", "img.longdesc",
	"img.height", "img.width", "img.usemap", "img.ismap", "map.name", "area.shape", "area.coords", "area.href",
	"area.nohref", "area.alt", "table.summary", "table.width", "table.border", "table.frame", "table.rules",
	"table.cellspacing", "table.cellpadding", "pre.space", "td.nowrap")

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

const xhtmlNS = "http://www.w3.org/1999/xhtml"

// CheckNarrative checks the XHTML of a narrative against FHIR R4's rules:
// well-formed XML whose root is a div in the XHTML namespace, only XML's own
// entities, no DOCTYPE or processing instructions, only the allowed
// elements and attributes (so no scripts, forms, objects or event handlers),
// no script URLs and no external references other than links (a, area) and
// images, and some non-whitespace content. It returns nil when the
// narrative passes.
func CheckNarrative(s string) *NarrativeError {
	x := xhtmlReader{s: s}
	x.skipMisc()
	if x.err != nil {
		return x.err
	}
	if x.i >= len(s) || s[x.i] != '<' {
		return narrErr("txt-1", "the narrative is not XHTML: it must be a single <div> element")
	}
	if err := x.element(0, true); err != nil {
		return err
	}
	x.skipMisc()
	if x.err != nil {
		return x.err
	}
	if x.i != len(s) {
		return narrErr("txt-1", "the narrative has content after its root <div>")
	}
	if !x.content {
		return narrErr("txt-2", "the narrative has no non-whitespace content")
	}
	return nil
}

type xhtmlReader struct {
	s       string
	i       int
	content bool // some non-whitespace text or an image was seen
	err     *NarrativeError
}

const maxXHTMLDepth = 256

// skipMisc skips white space and comments outside the root element.
func (x *xhtmlReader) skipMisc() {
	for x.i < len(x.s) {
		switch {
		case isXMLSpace(x.s[x.i]):
			x.i++
		case strings.HasPrefix(x.s[x.i:], "<!--"):
			if !x.comment() {
				return
			}
		case strings.HasPrefix(x.s[x.i:], "<?"):
			x.err = narrErr("txt-1", "processing instructions are not allowed in a narrative")
			return
		case strings.HasPrefix(x.s[x.i:], "<!"):
			x.err = narrErr("txt-1", "a DOCTYPE is not allowed in a narrative")
			return
		default:
			return
		}
	}
}

func (x *xhtmlReader) comment() bool {
	end := strings.Index(x.s[x.i+4:], "-->")
	if end < 0 {
		x.err = narrErr("txt-1", "the narrative is not well-formed XHTML: unterminated comment")
		return false
	}
	x.i += 4 + end + 3
	return true
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isNameChar(c byte) bool {
	return c == '_' || c == ':' || c == '-' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func (x *xhtmlReader) name() string {
	start := x.i
	for x.i < len(x.s) && isNameChar(x.s[x.i]) {
		x.i++
	}
	return x.s[start:x.i]
}

func (x *xhtmlReader) ws() {
	for x.i < len(x.s) && isXMLSpace(x.s[x.i]) {
		x.i++
	}
}

func malformed(msg string) *NarrativeError {
	return narrErr("txt-1", "the narrative is not well-formed XHTML: "+msg)
}

// element reads an element starting at '<'.
func (x *xhtmlReader) element(depth int, root bool) *NarrativeError {
	if depth > maxXHTMLDepth {
		return malformed("elements nested too deeply")
	}
	s := x.s
	x.i++ // '<'
	tag := x.name()
	if tag == "" {
		return malformed("a '<' that does not start an element")
	}
	if root && tag != "div" {
		return narrErr("txt-1", "the root element of a narrative must be <div>, not <"+tag+">")
	}
	if !narrativeElements[tag] {
		return narrErr("txt-1", "the element <"+tag+"> is not allowed in a narrative")
	}
	if tag == "img" {
		x.content = true
	}
	seen := map[string]bool{}
	hasNS := false
	for {
		x.ws()
		if x.i >= len(s) {
			return malformed("unterminated <" + tag + "> tag")
		}
		if s[x.i] == '>' || strings.HasPrefix(s[x.i:], "/>") {
			break
		}
		an := x.name()
		if an == "" {
			return malformed("bad attribute in <" + tag + ">")
		}
		x.ws()
		if x.i >= len(s) || s[x.i] != '=' {
			return malformed("attribute " + an + " of <" + tag + "> has no value")
		}
		x.i++
		x.ws()
		if x.i >= len(s) || (s[x.i] != '"' && s[x.i] != '\'') {
			return malformed("attribute " + an + " of <" + tag + "> is not quoted")
		}
		q := s[x.i]
		end := strings.IndexByte(s[x.i+1:], q)
		if end < 0 {
			return malformed("attribute " + an + " of <" + tag + "> is not closed")
		}
		raw := s[x.i+1 : x.i+1+end]
		x.i += end + 2
		if strings.IndexByte(raw, '<') >= 0 {
			return malformed("'<' in the value of attribute " + an)
		}
		val, err := decodeText(raw)
		if err != nil {
			return err
		}
		if seen[an] {
			return malformed("attribute " + an + " repeated in <" + tag + ">")
		}
		seen[an] = true
		if an == "xmlns" {
			if val != xhtmlNS {
				return narrErr("txt-1", "the narrative must be in the XHTML namespace "+xhtmlNS+", not "+val)
			}
			hasNS = true
			continue
		}
		if strings.HasPrefix(an, "xmlns:") {
			continue
		}
		if strings.HasPrefix(strings.ToLower(an), "on") {
			return narrErr("txt-1", "the event handler attribute "+an+" of <"+tag+"> is not allowed in a narrative")
		}
		if !narrativeAttrs[an] && !narrativeElemAttrs[tag+"."+an] {
			return narrErr("txt-1", "the attribute "+an+" is not allowed on <"+tag+"> in a narrative")
		}
		if problem := checkNarrativeURL(tag, an, val); problem != "" {
			return narrErr("txt-1", problem)
		}
	}
	if root && !hasNS {
		return narrErr("txt-1", `the root <div> of a narrative must declare xmlns="`+xhtmlNS+`"`)
	}
	if strings.HasPrefix(s[x.i:], "/>") {
		x.i += 2
		return nil
	}
	x.i++ // '>'
	// Content.
	for {
		if x.i >= len(s) {
			return malformed("<" + tag + "> is not closed")
		}
		lt := strings.IndexByte(s[x.i:], '<')
		if lt < 0 {
			return malformed("<" + tag + "> is not closed")
		}
		if lt > 0 {
			text, err := decodeText(s[x.i : x.i+lt])
			if err != nil {
				return err
			}
			if strings.TrimSpace(text) != "" {
				x.content = true
			}
			x.i += lt
		}
		rest := s[x.i:]
		switch {
		case strings.HasPrefix(rest, "</"):
			x.i += 2
			end := x.name()
			x.ws()
			if end != tag || x.i >= len(s) || s[x.i] != '>' {
				return malformed("</" + end + "> does not close <" + tag + ">")
			}
			x.i++
			return nil
		case strings.HasPrefix(rest, "<!--"):
			if !x.comment() {
				return x.err
			}
		case strings.HasPrefix(rest, "<![CDATA["):
			end := strings.Index(rest, "]]>")
			if end < 0 {
				return malformed("unterminated CDATA section")
			}
			if strings.TrimSpace(rest[9:end]) != "" {
				x.content = true
			}
			x.i += end + 3
		case strings.HasPrefix(rest, "<?"):
			return narrErr("txt-1", "processing instructions are not allowed in a narrative")
		case strings.HasPrefix(rest, "<!"):
			return narrErr("txt-1", "a DOCTYPE is not allowed in a narrative")
		default:
			if err := x.element(depth+1, false); err != nil {
				return err
			}
		}
	}
}

// decodeText checks the character and entity references of text or an
// attribute value and returns it decoded. Only XML's own entities are
// allowed: HTML ones such as &reg; or &nbsp; are not defined in XHTML that
// is not given a DTD.
func decodeText(s string) (string, *NarrativeError) {
	if strings.IndexByte(s, '&') < 0 {
		return s, nil
	}
	var sb strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '&' {
			sb.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i:], ';')
		if end < 0 {
			return "", malformed("'&' that does not start an entity reference")
		}
		ref := s[i+1 : i+end]
		i += end + 1
		switch ref {
		case "lt":
			sb.WriteByte('<')
		case "gt":
			sb.WriteByte('>')
		case "amp":
			sb.WriteByte('&')
		case "quot":
			sb.WriteByte('"')
		case "apos":
			sb.WriteByte('\'')
		default:
			if r, ok := charRef(ref); ok {
				sb.WriteRune(r)
				continue
			}
			return "", narrErr("txt-1", "the entity &"+ref+"; is not defined in XHTML (use the character itself or a numeric reference)")
		}
	}
	return sb.String(), nil
}

func charRef(ref string) (rune, bool) {
	if len(ref) < 2 || ref[0] != '#' {
		return 0, false
	}
	base, digits := 10, ref[1:]
	if digits[0] == 'x' || digits[0] == 'X' {
		base, digits = 16, digits[1:]
	}
	if digits == "" || len(digits) > 8 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(digits) {
		var d rune
		switch {
		case c >= '0' && c <= '9':
			d = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = rune(c-'A') + 10
		default:
			return 0, false
		}
		r = r*rune(base) + d
	}
	if r == 0 || !utf8.ValidRune(r) || r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
		return 0, false
	}
	return r, true
}

// checkNarrativeURL returns a problem with an attribute that holds a URL or
// style: scripts are never allowed, and only links and images may point
// outside the resource.
func checkNarrativeURL(tag, attr, val string) string {
	v := strings.ToLower(strings.TrimSpace(val))
	switch attr {
	case "href", "src", "cite", "longdesc", "usemap":
		for _, scheme := range []string{"javascript:", "vbscript:"} {
			if strings.HasPrefix(v, scheme) {
				return "a " + strings.TrimSuffix(scheme, ":") + " URL in " + attr + " of <" + tag + "> is not allowed in a narrative"
			}
		}
	case "style":
		if strings.Contains(v, "expression(") || strings.Contains(v, "@import") || externalStyleURL(v) {
			return "the style of <" + tag + "> refers to an external resource or a script, which a narrative must not"
		}
	}
	return ""
}

// externalStyleURL reports whether a style names a url(...) other than
// inline data (data:) or a fragment of the resource (#...).
func externalStyleURL(style string) bool {
	for rest := style; ; {
		i := strings.Index(rest, "url(")
		if i < 0 {
			return false
		}
		rest = strings.TrimLeft(rest[i+4:], " \t'\"")
		if !strings.HasPrefix(rest, "data:") && !strings.HasPrefix(rest, "#") {
			return true
		}
	}
}
