package fhir

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/fhirlake/fhirlake/internal/fhirpath"
)

// The strict level evaluates every constraint (invariant) of the R4
// definitions with the one FHIRPath engine: those of the resources, of the
// data types and backbone elements they use, and of the core extensions
// found in the resource. Each constraint runs on every node of its element
// or type; a result of false is an issue with the constraint's key and
// severity (error rejects, warning is reported), located at the node.
//
// A constraint holds only when its expression is true: false, and also an
// empty result, are violations, as the HL7 validator reads them. The R4
// expressions that give empty on valid content (an optional element that
// is absent, dateTimes of different precisions) are corrected below, with
// the guards the HL7 validator adds to the same expressions.

// constraint is one constraint of the definitions.
type constraint struct {
	key, severity, human, expr, source string

	run   string         // the expression evaluated: expr, or its correction
	diag  string         // the diagnostics of a violation: "key: human"
	fixed string         // why expr was corrected, "" when it was not
	left  string         // why the constraint is not evaluated, "" when it is
	prog  *fhirpath.Expr // nil when left out
	index int
	// valued: the expression is "hasValue() or ...", true on a primitive with a value without
	// being evaluated (ele-1, on most nodes of a resource).
	valued bool
}

// correction is a published R4 expression that is known to be wrong, with
// the expression evaluated instead and why. They match the corrections the
// HL7 validator applies to the 4.0.1 definitions, stated here as facts of the
// specification.
type correction struct {
	key, published, corrected, why string
}

var corrections = []correction{
	{"ref-1", "reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))",
		"reference.exists() implies (reference = '#' or (reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))))",
		`a Reference without a reference (only a display or an identifier) makes the published expression empty; "#" alone refers to the container`},
	{"bdl-8", "fullUrl.contains('/_history/').not()", "fullUrl.exists() implies fullUrl.contains('/_history/').not()",
		"an entry without a fullUrl makes the published expression empty"},
	{"ras-2", "probability is decimal implies (probability as decimal) <= 100", "probability.empty() or ((probability is decimal) implies ((probability as decimal) <= 100))",
		"a prediction without a probability makes the published expression empty"},
	{"inv-1", "substanceExposureRisk.exists() and code.empty()", "%resource.code.empty()",
		"the published expression (on the extension allergyintolerance-substanceExposureRisk) names elements an Extension does not have, so it is false for every use; the rule is that AllergyIntolerance.code is omitted when the extension is present, which is what is evaluated"},
	{"que-12", "enableWhen.count() > 2 implies enableBehavior.exists()", "enableWhen.count() >= 2 implies enableBehavior.exists()",
		`the rule is "If there are more than one enableWhen, enableBehavior must be specified"; the published expression waits for three`},
	{"que-7", "operator = 'exists' implies (answer is Boolean)", "operator = 'exists' implies (answer is boolean)",
		"answer is a FHIR boolean, which is not a System.Boolean: as published the rule fails for every 'exists' condition"},
	{"con-3", "clinicalStatus.exists() or verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-status' and code = 'entered-in-error').exists() or category.select($this='problem-list-item').empty()",
		"clinicalStatus.exists() or verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-status' and code = 'entered-in-error').exists() or category.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-category' and code = 'problem-list-item').empty()",
		"the published expression compares the CodeableConcept category with a string, which is never equal, so it asks every Condition with a category for a clinicalStatus; the rule is about problem-list items"},
	{"*-0", "name.matches('[A-Z]([A-Za-z0-9_]){0,254}')", "name.exists() implies name.matches('^[A-Z]([A-Za-z0-9_]){0,254}$')",
		"the rule is that the whole name is computer friendly, when there is a name: FHIRPath's matches() finds the pattern anywhere in the string, and an absent name makes the published expression empty"},
	{"eld-19", `path.matches('[^\\s\\.,:;\\\'"\\/|?!@#$%&*()\\[\\]{}]{1,64}(\\.[^\\s\\.,:;\\\'"\\/|?!@#$%&*()\\[\\]{}]{1,64}(\\[x\\])?(\\:[^\\s\\.]+)?)*')`,
		`path.matches('^[^\\s\\.,:;\\\'"\\/|?!@#$%&*()\\[\\]{}]{1,64}(\\.[^\\s\\.,:;\\\'"\\/|?!@#$%&*()\\[\\]{}]{1,64}(\\[x\\])?(\\:[^\\s\\.]+)?)*$')`,
		"the pattern is meant for the whole path; matches() finds it anywhere"},
	{"eld-20", `path.matches('[A-Za-z][A-Za-z0-9]*(\\.[a-z][A-Za-z0-9]*(\\[x])?)*')`, `path.matches('^[A-Za-z][A-Za-z0-9]*(\\.[a-z][A-Za-z0-9]*(\\[x])?)*$')`,
		"the pattern is meant for the whole path; matches() finds it anywhere"},
}

// leftOut are the constraints that are not evaluated, each with its reason.
var leftOut = map[string]string{
	// key + " " + source
	"cid-0 http://hl7.org/fhir/StructureDefinition/ChargeItemDefinition": "ChargeItemDefinition has no name element in R4, so the expression (name.matches(...)) never applies",
}

// invariants holds the FHIRPath model and the compiled constraints.
type invariants struct {
	model      *fhirpath.Model
	types      map[string]*fhirpath.Type
	extension  *fhirpath.Type
	attachment *fhirpath.Type
	byElem     [][][]*constraint // [element ID][type index]: the constraints of a node
	byType     map[*fhirpath.Type][]*constraint
	// required are the required bindings of code elements, by element ID
	// (nil when none), for codes given only as _name.
	required []*valueSet
}

func newInvariants(t *tables) (*invariants, error) {
	m, types, err := buildModel(t)
	if err != nil {
		return nil, err
	}
	inv := &invariants{model: m, types: types, extension: types["Extension"], attachment: types["Attachment"], byType: map[*fhirpath.Type][]*constraint{}}
	for i, c := range t.constraints {
		c.index = i
		c.run = c.expr
		c.diag = c.key + ": " + c.human
		for _, fx := range corrections {
			if (fx.key == c.key || fx.key == "*-0" && strings.HasSuffix(c.key, "-0")) && fx.published == c.expr {
				c.run, c.fixed = fx.corrected, fx.why
			}
		}
		if why, ok := leftOut[c.key+" "+c.source]; ok {
			c.left = why
			continue
		}
		prog, err := m.Compile(c.run, fhirpath.Options{LenientAs: true})
		if err != nil {
			return nil, fmt.Errorf("fhir: constraint %s (%s): %w", c.key, c.source, err)
		}
		c.prog = prog
		rest, ok := strings.CutPrefix(c.run, "hasValue() or ")
		c.valued = ok && enclosed(rest)
	}
	list := func(idx []int) []*constraint {
		var out []*constraint
		for _, k := range idx {
			if k >= 0 && k < len(t.constraints) && t.constraints[k].prog != nil {
				out = append(out, t.constraints[k])
			}
		}
		return out
	}
	for _, td := range t.types {
		inv.byType[td.fp] = list(td.cons)
	}
	inv.byElem = make([][][]*constraint, len(m.Elements()))
	inv.required = make([]*valueSet, len(m.Elements()))
	for _, td := range t.types {
		for i := range td.elems {
			e := &td.elems[i]
			if e.vs != nil && e.vs.kind != vsNone && len(e.types) == 1 && e.types[0].prim == primCode {
				inv.required[e.fp.ID] = e.vs
			}
			perType := make([][]*constraint, len(e.types))
			for j := range e.types {
				et := &e.types[j]
				merged := list(e.cons)
				if et.def != nil {
					merged = mergeConstraints(merged, inv.byType[et.def.fp])
				}
				perType[j] = merged
			}
			inv.byElem[e.fp.ID] = perType
		}
	}
	// The id and extension of primitives: the constraints of their types.
	ext := inv.byType[t.extension.fp]
	for _, fe := range m.Elements() {
		if inv.byElem[fe.ID] == nil {
			perType := make([][]*constraint, len(fe.Types))
			for j, ft := range fe.Types {
				if ft == t.extension.fp {
					perType[j] = ext
				}
			}
			inv.byElem[fe.ID] = perType
		}
	}
	return inv, nil
}

// mergeConstraints appends the constraints of b that a lacks (by key).
func mergeConstraints(a, b []*constraint) []*constraint {
	out := append([]*constraint(nil), a...)
next:
	for _, c := range b {
		for _, d := range out {
			if d.key == c.key {
				continue next
			}
		}
		out = append(out, c)
	}
	return out
}

// forNode returns the constraints that apply to node n.
func (inv *invariants) forNode(d *fhirpath.Doc, n fhirpath.NodeID) []*constraint {
	t := d.Type(n)
	if t == nil {
		return nil
	}
	e := d.Element(n)
	if e == nil || t.Resource {
		return inv.byType[t]
	}
	perType := inv.byElem[e.ID]
	for j, et := range e.Types {
		if et == t && j < len(perType) {
			return perType[j]
		}
	}
	return nil
}

// enclosed reports whether s is one parenthesised expression, "(...)", so that
// "hasValue() or " + s is an "or" at the top.
func enclosed(s string) bool {
	if len(s) < 2 || s[0] != '(' {
		return false
	}
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			for i++; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i == len(s)-1
			}
		}
	}
	return false
}

// stepBound bounds one constraint evaluation: generous for any real
// resource (an evaluation visits a node a few times at most), small enough
// that hostile input cannot run away.
func stepBound(nodes int) int { return 100_000 + 64*nodes }

// checkInvariants evaluates the constraints of the definitions and the core
// extension rules on the resource the walker read (and built w.doc of).
// It reports whether the Doc was complete.
func (w *walker) checkInvariants() bool {
	inv := w.t.inv
	doc := &w.doc
	if err := doc.End(); err != nil {
		// The walk found the resource well-formed, so this is a bug: say so
		// rather than pass the resource unchecked in silence.
		w.addAt(SeverityWarning, "exception", "the constraints of the definitions were not evaluated: "+err.Error(), "")
		return false
	}
	if w.ev == nil {
		w.ev = fhirpath.NewEvaluator()
	}
	ev := w.ev
	ev.Reset(doc)
	ev.MaxSteps = stepBound(doc.Len())
	walkerErrs := len(w.issues)
	for i := 0; i < doc.Len(); i++ {
		n := fhirpath.NodeID(i)
		if !doc.Live(n) {
			continue
		}
		for _, c := range inv.forNode(doc, n) {
			if c.key == "dom-6" && n != 0 {
				continue // narrative is asked of the resource itself, not of contained or nested ones
			}
			if c.valued && doc.HasValue(n) {
				continue
			}
			truth, err := ev.Check(c.prog, n)
			w.steps += ev.Steps()
			switch {
			case err == nil:
				if truth != fhirpath.True {
					w.constraintIssue(c, doc, n, ev, walkerErrs)
				}
			case errors.Is(err, fhirpath.ErrTooCostly):
				w.addAt(SeverityError, "too-costly", c.key+": the resource is too large or too deeply nested to evaluate this constraint", doc.Path(n))
			default:
				w.addAt(SeverityWarning, "exception", c.key+" could not be evaluated: "+err.Error(), doc.Path(n))
			}
		}
		switch t := doc.Type(n); {
		case t == inv.extension:
			w.checkExtension(doc, n)
		case t == inv.attachment:
			w.checkAttachmentSize(doc, n)
		case !doc.HasValue(n):
			w.checkAbsentCode(doc, n)
		}
	}
	return true
}

// checkAttachmentSize checks an Attachment's size against its data: "The
// number of bytes of data that make up this attachment (before base64
// encoding)".
func (w *walker) checkAttachmentSize(doc *fhirpath.Doc, n fhirpath.NodeID) {
	data, size := doc.Child(n, "data"), doc.Child(n, "size")
	if data == fhirpath.NoNode || size == fhirpath.NoNode || !doc.HasValue(data) || !doc.HasValue(size) {
		return
	}
	stated, err := strconv.ParseInt(doc.String(size), 10, 64)
	if err != nil {
		return
	}
	b64 := doc.String(data)
	chars, pad := 0, 0
	for k := 0; k < len(b64); k++ {
		switch c := b64[k]; {
		case c == '=':
			pad++
			chars++
		case !isSpace(c):
			chars++
		}
	}
	if chars%4 != 0 {
		return // not base64: the type's rule reports it
	}
	if actual := int64(chars/4*3 - pad); actual != stated {
		w.addAt(SeverityError, "value", "the stated attachment size "+strconv.FormatInt(stated, 10)+" does not match the size of its data ("+strconv.FormatInt(actual, 10)+" bytes)", doc.Path(size))
	}
}

// checkAbsentCode reports a code with a required binding that is given only
// as _name (its id and extensions, such as a data-absent-reason): the
// binding still needs a code. A cross-version extension that carries the
// code of another FHIR version (http://hl7.org/fhir/5.0/StructureDefinition/
// extension-...) stands in for it.
func (w *walker) checkAbsentCode(doc *fhirpath.Doc, n fhirpath.NodeID) {
	e := doc.Element(n)
	if e == nil || w.t.inv.required[e.ID] == nil {
		return
	}
	crossVersion := false
	doc.Children(n, func(c fhirpath.NodeID) bool {
		if doc.Name(c) == "extension" {
			u := doc.String(doc.Child(c, "url"))
			if rest, ok := strings.CutPrefix(u, "http://hl7.org/fhir/"); ok && strings.Contains(rest, "/StructureDefinition/extension-") {
				crossVersion = true
			}
		}
		return !crossVersion
	})
	if !crossVersion {
		w.addAt(SeverityError, "code-invalid", "no code provided, and a code is required from the value set "+w.t.inv.required[e.ID].url, doc.Path(n))
	}
}

// constraintIssue reports a failed constraint, unless the walker already
// reported the same problem at the same place (an empty object is ele-1).
func (w *walker) constraintIssue(c *constraint, doc *fhirpath.Doc, n fhirpath.NodeID, ev *fhirpath.Evaluator, walkerErrs int) {
	where := doc.Path(n)
	diag := c.diag
	if c.key == "ele-1" {
		for _, is := range w.issues[:walkerErrs] {
			if is.Expression == where && is.Severity == SeverityError {
				return
			}
		}
	}
	if c.run == "htmlChecks()" {
		// txt-1 and txt-2 share the expression: report once, under the rule
		// the narrative breaks, with the reason.
		reason := ev.Reason()
		if p := fhirpath.CheckNarrative(doc.String(n)); p != nil {
			if p.Rule != c.key {
				return
			}
			reason = p.Msg
		}
		diag += " (" + reason + ")"
	}
	sev := SeverityError
	if c.severity == "warning" {
		sev = SeverityWarning
	}
	if len(w.issues) >= MaxIssues {
		w.addAt(sev, "invariant", "", where)
		return
	}
	w.issues = append(w.issues, Issue{Severity: sev, Code: "invariant", Diagnostics: diag, Expression: where, Key: c.key})
}

// Constraints reports every constraint of the R4 definitions that the strict
// level knows, in the order of the generated tables.
func Constraints() []ConstraintInfo {
	t, err := loadTables()
	if err != nil {
		return nil
	}
	out := make([]ConstraintInfo, 0, len(t.constraints))
	for _, c := range t.constraints {
		ci := ConstraintInfo{Key: c.key, Severity: c.severity, Human: c.human, Expression: c.expr,
			Source: c.source, Corrected: c.fixed, LeftOut: c.left}
		if c.prog != nil {
			ci.Evaluated = c.run
		}
		out = append(out, ci)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// ConstraintInfo describes one constraint of the R4 definitions.
type ConstraintInfo struct {
	Key, Severity, Human string
	Expression           string // as published
	Source               string // the definition that declares it
	Evaluated            string // the expression strict evaluates ("" when left out)
	Corrected            string // why the published expression is corrected ("" when it is not)
	LeftOut              string // why it is not evaluated ("" when it is)
}

// FHIRPathModel returns the FHIRPath model of R4 that strict validation
// evaluates the constraints with: for evaluating other expressions (search
// parameters, $validate, tests) on the same types. It returns nil only when
// the embedded tables are corrupt.
func FHIRPathModel() *fhirpath.Model {
	t, err := loadTables()
	if err != nil {
		return nil
	}
	return t.inv.model
}
