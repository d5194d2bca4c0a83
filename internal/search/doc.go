// Package search owns FHIR R4 search for fhirlake: the registry of search parameters (generated
// from the R4 definition bundle search-parameters.json.gz into registry_gen.go by
// ./internal/gen; run "go generate" with the shared folder next to the module), the extraction
// of index entries from resource JSON at write time (Extract, used by imports and REST writes
// alike), and the parsing of search URLs into a typed Query (Parse).
//
// Extraction evaluates each parameter's FHIRPath expression with fhirlake's FHIRPath engine
// (package fhirpath) on the resource read into a fhirpath.Doc. Every R4 definition compiles,
// each for every one of its base types, so that the paths of a union shared between types that
// start with another type cost nothing; a composite's components are evaluated on each value of
// its expression. resolve() answers "is Type" from the reference (TypeOnlyReferences), so
// conditional references ("Practitioner?identifier=...") count as their type; references within
// the resource ("#id") are not indexed. Bundle-composition and Bundle-message
// (Bundle.entry[0].resource) index the first entry's resource when it is of the target type.
// Special parameters, _text/_content (no expression) and the composites composites.go cannot
// pair are not indexed.
//
// Values are indexed by kind: strings lower-cased and accent-folded (Normalize) with the exact
// text kept for :exact; tokens as system, code and display/text; references as target type
// and id (absolute URLs and canonicals whole); dates, periods and timings as inclusive
// millisecond ranges given by their precision (ParseDate), so prefixes follow the FHIR range
// rules; numbers and quantities (Range as low..high, Money with its currency) as number ranges
// with their unit; uris as written.
//
// Parse turns the parameters of a search into the store's query (store.SearchQuery, in Query)
// and what the data plane does with the results (_summary, _elements, _total, paging). It
// understands the modifiers :exact, :contains, :text (string: word prefixes), :not, :text
// (token), :missing (all), :below and :above (uri), :[type] and :identifier (reference); all
// eight prefixes and ap (date and number: 10% either side); chains up to four links deep;
// reverse chains (_has, nested); composite parameters (composites.go); and _id, _lastUpdated,
// _count, _sort, _include and _revinclude (with :iterate, and _include=*), _summary, _elements,
// _total, _format (JSON) and the server's own _page cursor. A parameter, modifier or prefix it
// does not apply is left out of the query and listed in Query.Unsupported (lenient handling), or
// refused (strict); a malformed value is always an *Error. Query.Applied is what was applied,
// for the Bundle's self link.
//
// :identifier and composites need no store support of their own: extraction indexes a
// reference's identifier as a token under "<code>:identifier", and each pair of a composite's
// values under a parameter named after the composite and the first value, unless the composite
// is a conjunction or a union of others (composites.go).
//
// Compartments (compartments_gen.go, from the R4 CompartmentDefinitions) name the reference
// parameters that put a resource in a Patient's, Encounter's, ... compartment.
//
// The package imports no storage backend: index entries (Entry) and queries are the store
// contract's own types. It holds no mutable state beyond a pool of Docs and evaluators; the
// registry is built once and never changed. Entries own their strings (one allocation per
// resource), so a caller may reuse the body.
package search
