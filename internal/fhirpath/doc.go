// Package fhirpath is fhirlake's one FHIRPath engine: FHIRPath 2.0 as FHIR R4
// uses it, evaluated on resource JSON without building a typed model.
//
// A Model (the FHIR types, elements and choice types, given by package fhir
// from the R4 definitions) reads resource JSON into a Doc: a flat array of
// nodes over the bytes, one per element, each with its element and type.
// Expressions are compiled once against the model (Model.Compile), which
// checks paths against the types when a context type is given, and are then
// evaluated by an Evaluator on any number of Docs. Expr.TopMembers tells
// which top-level members of a resource an expression can read, so that a
// caller can leave the others of a large resource unparsed.
//
// The engine covers the language (paths, choice types, indexers, every
// operator with FHIRPath's empty-collection and singleton rules, three-valued
// logic, date/time and quantity arithmetic and comparison with precision and
// UCUM unit conversion for common units), the function library of FHIRPath
// 2.0 plus the 2.1 functions the R4 test suite uses (lowBoundary,
// highBoundary, precision, comparable, sort, trim, split, join, encode,
// decode, escape, unescape, matchesFull), and the FHIR additions:
// extension(url), hasValue(), getValue(), resolve() within the resource
// (contained) and its enclosing Bundles, htmlChecks() with R4's narrative
// rules (CheckNarrative), conformsTo() for core types, %resource,
// %rootResource, %context, %ucum, %sct, %loinc, %vs-* and %ext-*.
//
// Evaluations are bounded: every node visited and item handled is a step,
// and an evaluation stops with ErrTooCostly past Evaluator.MaxSteps. Results
// of subexpressions that depend only on %resource (dom-3's
// %resource.descendants()) are computed once per resource and reused by
// every evaluation on the same Doc, which keeps validation linear in the
// size of the resource.
//
// Not covered: memberOf(), subsumes() and other terminology functions
// (they need a terminology service; memberOf() yields empty), slice(),
// checkModifiers(), elementDefinition(), and lenient polymorphic navigation
// (valueQuantity as a path step is an error, as in strict FHIRPath).
// Decimals are float64 values with the number of digits written, which is
// exact for the 15 significant digits clinical data uses.
//
// Package fhirpath owns no FHIR definitions (the model is given to it), does
// not validate resources, and imports no other package of fhirlake.
package fhirpath
