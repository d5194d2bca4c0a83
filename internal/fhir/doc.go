// Package fhir owns the FHIR R4 (4.0.1) resource envelope of fhirlake: it
// validates resource JSON at the three HealthLake validation levels
// (minimal, structure-only, strict), reports problems as OperationOutcome
// issues with FHIRPath-style locations, renders OperationOutcome JSON, and
// rewrites meta.versionId/meta.lastUpdated on stored resources (SetMeta).
//
// The structural knowledge (every element of the 146 concrete resource types
// and of the data types, cardinalities, choice types, contentReference
// targets, reference target types, required bindings with their expansions,
// and the primitive regexes) comes from tables generated from the official R4
// definitions by ./internal/gen and committed as r4tables.json.gz, so that
// building never needs the definitions themselves. Validation is one pass
// over the bytes that follows those tables; no JSON tree is built.
//
// Decisions worth knowing:
//   - Reference policy: see references.go. Conditional references
//     (Type?query) and urn:uuid/urn:oid references are accepted when
//     well-formed and, for conditional ones, of an allowed target type.
//   - Required bindings are checked on code elements, and on Codings whose
//     system the value set draws on. Media types (BCP-13), language tags
//     (BCP-47) and UCUM units are checked by grammar, not by list; the one
//     value set without an expansion (LOINC LL379-9) is not checked.
//   - dom-6 (narrative) is a warning, reported for the top-level resource
//     only, not for contained resources or Bundle entries.
//   - The top-level resource needs an id at every level; contained resources
//     need one only for dom-3; Bundle entries need none.
//   - xhtml is only checked to be a non-empty string; profiles in
//     meta.profile are not enforced.
//
// Package fhir does not own storage, search indexing, NDJSON transport or
// HTTP; it does not resolve references between resources, evaluate FHIRPath,
// or check codes from non-required bindings.
package fhir
