package fhir

import (
	"github.com/fhirlake/fhirlake/internal/jsonscan"
	"strings"
	"sync"

	"github.com/fhirlake/fhirlake/internal/fhirpath"
)

// Level is a HealthLake import validation level.
type Level string

// The validation levels, from the cheapest to the most thorough. Each level
// includes the checks of the ones before it.
const (
	// LevelMinimal checks that the input is one well-formed JSON object whose
	// resourceType is a concrete R4 type and whose id is a valid logical id.
	LevelMinimal Level = "minimal"
	// LevelStructureOnly adds the shape of every element: known names, JSON
	// kinds, arrays exactly where the maximum cardinality is not 1, primitive
	// formats, no empty or null values, one variant per choice, no duplicate keys.
	LevelStructureOnly Level = "structure-only"
	// LevelStrict adds minimum cardinalities, required bindings, reference
	// syntax and targets, every constraint of the R4 definitions (evaluated
	// with the FHIRPath engine), narrative XHTML and the core extensions'
	// definitions.
	LevelStrict Level = "strict"
)

// ParseLevel returns the Level spelled s, as HealthLake spells it.
func ParseLevel(s string) (Level, bool) {
	switch l := Level(s); l {
	case LevelMinimal, LevelStructureOnly, LevelStrict:
		return l, true
	}
	return "", false
}

// Issue is one OperationOutcome issue.
type Issue struct {
	Severity    string // "error" | "warning" | "information"
	Code        string // FHIR IssueType code
	Diagnostics string
	Expression  string // FHIRPath-style location, e.g. "Patient.name[0].given[1]"; "" when none
	// Key is the key of the constraint of the definitions that the issue
	// reports ("obs-3"), "" for other issues. Diagnostics starts with it.
	Key string
}

// Issue severities.
const (
	SeverityError       = "error"
	SeverityWarning     = "warning"
	SeverityInformation = "information"
)

// Result is the outcome of validating one resource.
type Result struct {
	ResourceType string  // as found in the JSON, "" if absent/unreadable
	ID           string  // as found, "" if absent
	Issues       []Issue // errors and warnings; Valid() is true when no issue has severity "error"
}

// Valid reports whether no issue is an error.
func (r Result) Valid() bool {
	for _, is := range r.Issues {
		if is.Severity == SeverityError {
			return false
		}
	}
	return true
}

// MaxIssues caps the issues reported for one resource; a final "too-costly"
// warning says when more were found.
const MaxIssues = 100

// Validator validates R4 resources. It holds only immutable tables and a pool
// of scratch state, so one Validator is safe for concurrent use.
type Validator struct {
	t    *tables
	err  error // set when the embedded tables cannot be decoded
	pool sync.Pool
	// skipInvariants leaves out the constraint evaluation of the strict
	// level (for benchmarks that measure its cost).
	skipInvariants bool
}

// NewValidator returns a Validator. The generated tables are decoded once per
// process and shared, so calling it again is cheap.
func NewValidator() *Validator {
	t, err := loadTables()
	if err != nil {
		// The tables are embedded at build time and covered by the tests, so
		// this means a corrupt build; Validate then rejects everything.
		return &Validator{err: err}
	}
	v := &Validator{t: t}
	v.pool.New = func() any { return &walker{t: t} }
	return v
}

// IsResourceType reports whether name is one of the 146 concrete R4 resource types.
func IsResourceType(name string) bool {
	t, err := loadTables()
	if err != nil {
		return false
	}
	_, ok := t.resources[name]
	return ok
}

// ResourceTypes returns the sorted list of the concrete R4 resource types.
func ResourceTypes() []string {
	t, err := loadTables()
	if err != nil {
		return nil
	}
	return append([]string(nil), t.resourceNames...)
}

// Options select what Check validates.
type Options struct {
	// Level is the validation level; "" (or an unknown level) is LevelStrict.
	Level Level
	// BaseOnly validates against the base R4 definitions and says nothing
	// about the profiles the resource declares. Without it, each profile in
	// meta.profile gets an information issue saying that it was not checked:
	// the validator knows the base R4 definitions only.
	BaseOnly bool
	// IDOptional accepts a top-level resource without an id (a resource to
	// be created); imports always need one.
	IDOptional bool
}

// Check validates one resource with opts and returns its issues, ready for
// an OperationOutcome (MarshalOperationOutcome): errors, warnings and, when
// profiles are not ignored, information. It never panics, whatever the
// bytes. Import jobs use Validate, which is Check at a level with BaseOnly.
func (v *Validator) Check(resource []byte, opts Options) Result {
	level := opts.Level
	if _, ok := ParseLevel(string(level)); !ok {
		level = LevelStrict
	}
	res := v.Validate(resource, level)
	if opts.IDOptional {
		kept := res.Issues[:0]
		for _, is := range res.Issues {
			if !(is.Code == "required" && is.Diagnostics == "id is missing" && (is.Expression == res.ResourceType+".id" || is.Expression == "id")) {
				kept = append(kept, is)
			}
		}
		res.Issues = kept
	}
	if opts.BaseOnly || v.t == nil {
		return res
	}
	var doc fhirpath.Doc
	if err := v.t.inv.model.Parse(&doc, resource); err != nil {
		return res
	}
	if meta := doc.Child(0, "meta"); meta != fhirpath.NoNode {
		doc.Children(meta, func(c fhirpath.NodeID) bool {
			if doc.Name(c) == "profile" && doc.HasValue(c) {
				res.Issues = append(res.Issues, Issue{Severity: SeverityInformation, Code: "informational",
					Diagnostics: "profile " + doc.String(c) + " was not checked: only the base R4 definitions are known", Expression: doc.Path(c)})
			}
			return true
		})
	}
	return res
}

// OperationOutcome renders the result's issues as an OperationOutcome.
func (r Result) OperationOutcome() []byte { return MarshalOperationOutcome(r.Issues) }

// Validate checks one resource at level; an unknown level is treated as
// LevelStrict. It never panics, whatever the bytes.
func (v *Validator) Validate(resource []byte, level Level) Result {
	if v == nil || v.t == nil {
		msg := "validator not initialised: use NewValidator"
		if v != nil && v.err != nil {
			msg = "validator unavailable: " + v.err.Error()
		}
		return Result{Issues: []Issue{{Severity: SeverityError, Code: "exception", Diagnostics: msg}}}
	}
	if level == LevelMinimal {
		return v.minimal(resource)
	}
	w := v.pool.Get().(*walker)
	w.noInvariants = v.skipInvariants
	res := w.run(resource, level != LevelStructureOnly)
	w.reset()
	v.pool.Put(w)
	return res
}

// ValidateThen is Validate that also hands the resource, as the constraints
// read it, to use: at the strict level, when the resource is valid, use is
// called with the Doc the constraints were evaluated on, so that another
// reader of the resource (search index extraction) evaluates its own
// expressions on it instead of reading the JSON again. The Doc is the one
// Model.Parse with FHIRPathModel would give. use must not keep the Doc, nor
// strings it gives, after it returns. At the other levels, and for a resource
// with errors, use is not called.
func (v *Validator) ValidateThen(resource []byte, level Level, use func(*fhirpath.Doc)) Result {
	if v == nil || v.t == nil || level == LevelMinimal || level == LevelStructureOnly {
		return v.Validate(resource, level)
	}
	w := v.pool.Get().(*walker)
	w.noInvariants = v.skipInvariants
	res := w.run(resource, true)
	if w.docDone && res.Valid() {
		use(&w.doc)
	}
	w.reset()
	v.pool.Put(w)
	return res
}

// minimal runs the minimal level: one syntax pass that also picks out the
// top-level resourceType and id.
func (v *Validator) minimal(d []byte) Result {
	var res Result
	i := jsonscan.SkipWS(d, 0)
	if i >= len(d) || d[i] != '{' {
		res.Issues = []Issue{{Severity: SeverityError, Code: "structure", Diagnostics: "the resource is not a JSON object"}}
		return res
	}
	env, ok := scanEnvelope(d, i)
	if ok && jsonscan.SkipWS(d, env.end) != len(d) {
		ok = false
	}
	if !ok {
		res.Issues = []Issue{{Severity: SeverityError, Code: "structure", Diagnostics: "the resource is not well-formed JSON"}}
		return res
	}
	var issues []Issue
	td, rtIssue := v.t.envelopeType(&env)
	if td != nil {
		res.ResourceType = td.name
	} else if env.rtString {
		res.ResourceType = string(decoded(env.rt, env.rtEsc))
	}
	if rtIssue != nil {
		issues = append(issues, *rtIssue)
	}
	res.ID, ok = envelopeID(&env)
	if !ok {
		issues = append(issues, idIssue(&env, res.ResourceType))
	}
	res.Issues = issues
	return res
}

// envelopeType resolves the resourceType found by scanEnvelope.
func (t *tables) envelopeType(env *envelope) (*typeDef, *Issue) {
	switch {
	case !env.rtFound:
		return nil, &Issue{Severity: SeverityError, Code: "required", Diagnostics: "resourceType is missing"}
	case !env.rtString:
		return nil, &Issue{Severity: SeverityError, Code: "structure", Diagnostics: "resourceType must be a JSON string", Expression: "resourceType"}
	}
	name := decoded(env.rt, env.rtEsc)
	if td := t.resources[string(name)]; td != nil {
		return td, nil
	}
	return nil, &Issue{Severity: SeverityError, Code: "invalid", Diagnostics: "resourceType " + quote(name) + " is not a concrete FHIR R4 resource type", Expression: "resourceType"}
}

func decoded(raw []byte, esc bool) []byte {
	if !esc {
		return raw
	}
	return jsonscan.Unescape(nil, raw)
}

// envelopeID returns the top-level id and whether it is valid.
func envelopeID(env *envelope) (string, bool) {
	if !env.idFound || !env.idString {
		return "", false
	}
	id := decoded(env.id, env.idEsc)
	return string(id), validID(id)
}

func idIssue(env *envelope, rt string) Issue {
	where := "id"
	if rt != "" {
		where = rt + ".id"
	}
	switch {
	case !env.idFound:
		return Issue{Severity: SeverityError, Code: "required", Diagnostics: "id is missing", Expression: where}
	case !env.idString:
		return Issue{Severity: SeverityError, Code: "structure", Diagnostics: "id must be a JSON string", Expression: where}
	}
	return Issue{Severity: SeverityError, Code: "value", Diagnostics: "id " + quote(decoded(env.id, env.idEsc)) + ` does not match [A-Za-z0-9\-.]{1,64}`, Expression: where}
}

// quote renders a value for a diagnostic, shortened when long.
func quote(b []byte) string {
	const max = 64
	var sb strings.Builder
	sb.WriteByte('"')
	if len(b) > max {
		sb.Write(b[:max])
		sb.WriteString("...")
	} else {
		sb.Write(b)
	}
	sb.WriteByte('"')
	return sb.String()
}
