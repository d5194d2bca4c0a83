// Package fhir owns the FHIR R4 (4.0.1) resource envelope of fhirlake: it
// validates resource JSON at the three HealthLake validation levels
// (minimal, structure-only, strict), reports problems as OperationOutcome
// issues with FHIRPath-style locations, renders OperationOutcome JSON, and
// rewrites meta.versionId/meta.lastUpdated on stored resources (SetMeta).
//
// The R4 knowledge comes from tables generated from the official
// definitions by ./internal/gen and committed as r4tables.json.gz, so that
// building never needs the definitions themselves: every element of the 146
// concrete resource types and of the data types (cardinalities, choice
// types, contentReference targets, reference target types, base types),
// the required bindings with their expansions, the primitive regexes, the
// 242 constraints (invariants) of the types, resources and core extensions
// with the elements they are declared on, and the 393 core extension
// definitions (contexts, value types, nested extensions). From them the
// package also builds the FHIRPath model of R4 (FHIRPathModel) that package
// fhirpath evaluates expressions with.
//
// Validation is one pass over the bytes that follows the tables; no typed
// model is built. At strict, the pass also builds the engine's Doc of the
// resource (a flat array of nodes over the JSON), and every constraint of
// the definitions is then evaluated with the one FHIRPath engine
// (invariants.go), compiled once when the tables are loaded: each issue
// carries the constraint's key (Issue.Key) and severity (error rejects,
// warning is reported) and the node it failed on
// (Observation.referenceRange[1]). A constraint holds only when its result
// is true; the published expressions that are wrong or give empty on valid
// content are corrected, and one that cannot apply (cid-0) is left out, each
// with its reason (Constraints lists them all; testdata/constraints.txt is
// the list). ValidateThen hands the Doc of a valid resource to the caller,
// so that search index extraction does not read the resource again.
//
// Decisions worth knowing:
//   - Reference policy: see references.go. Conditional references
//     (Type?query) are accepted when well-formed and of an allowed target
//     type; urn:uuid and urn:oid references not in canonical form are a
//     warning, errors only when clearly not an identifier.
//   - Required bindings are checked on code elements, and on Codings whose
//     system the value set draws on. Media types (BCP-13), language tags
//     (BCP-47) and UCUM units are checked by grammar, not by list, with the
//     codes an element's definition admits beside the grammar
//     (CapabilityStatement.format and Signature.targetFormat: xml, json,
//     ttl); the one value set without an expansion (LOINC LL379-9) is not
//     checked.
//   - Strings (string, markdown, code, id) must not exceed 1 MB.
//   - Narratives are checked by R4's rules (txt-1, txt-2): well-formed XHTML
//     under a div in the XHTML namespace, XML's own entities only, the
//     allowed elements and attributes (no scripts, forms, objects or event
//     handlers), no script URLs or external references beyond links and
//     images, and some content (fhirpath.CheckNarrative).
//   - Core extensions are checked against their definitions: the context
//     they are used in, the type of their value, and for complex ones their
//     nested extensions. Other extensions are not checked.
//   - dom-6 (narrative) is a warning, reported for the top-level resource
//     only, not for contained resources or Bundle entries.
//   - The top-level resource needs an id at every level; contained resources
//     need one at strict (they are reached by "#id"); Bundle entries need
//     none.
//   - Profiles in meta.profile are not checked; Check reports each one with
//     an information issue unless asked to validate against the base only.
//
// Package fhir does not own storage, search indexing, NDJSON transport or
// HTTP; it resolves references only within the resource and its Bundle (for
// constraints that call resolve()), and does not check codes from
// non-required bindings or call a terminology service.
package fhir
