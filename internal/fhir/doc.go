// Package fhir owns the FHIR R4 (4.0.1) resource envelope of fhirlake: it
// validates resource JSON at the three HealthLake validation levels
// (minimal, structure-only, strict), reports problems as OperationOutcome
// issues with FHIRPath-style locations, renders OperationOutcome JSON, and
// rewrites meta.versionId/meta.lastUpdated on stored resources (SetMeta).
//
// The structural knowledge (every element of the 146 concrete resource types
// and of the data types, cardinalities, choice types, reference targets,
// required bindings and primitive regexes) comes from tables generated from
// the official R4 definitions by ./internal/gen and committed as
// r4tables.json.gz, so building never needs the definitions themselves.
//
// Package fhir does not own storage, search indexing, NDJSON transport or
// HTTP; it does not resolve references between resources, evaluate FHIRPath,
// validate against profiles (meta.profile is not enforced) or check codes
// from non-required bindings.
package fhir
