package fhirapi

import (
	"encoding/json"
	"strings"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/search"
)

// Bulk data (FHIR Bulk Data Access IG) canonical URLs.
const (
	bulkDataCapability = "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"
	bulkDataOperations = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/"
)

// capabilityStatement renders what this data plane really supports: every R4 resource type with
// its interactions and the search parameters that are indexed, and, when export is enabled, the
// three $export operations.
func capabilityStatement(export bool) []byte {
	type code struct {
		Code string `json:"code"`
	}
	type operation struct {
		Name       string `json:"name"`
		Definition string `json:"definition"`
	}
	type param struct {
		Name       string `json:"name"`
		Definition string `json:"definition,omitempty"`
		Type       string `json:"type"`
	}
	type resource struct {
		Type              string      `json:"type"`
		Interaction       []code      `json:"interaction"`
		Versioning        string      `json:"versioning"`
		ReadHistory       bool        `json:"readHistory"`
		UpdateCreate      bool        `json:"updateCreate"`
		ConditionalCreate bool        `json:"conditionalCreate"`
		ConditionalUpdate bool        `json:"conditionalUpdate"`
		ConditionalDelete string      `json:"conditionalDelete"`
		SearchInclude     []string    `json:"searchInclude,omitempty"`
		SearchRevInclude  []string    `json:"searchRevInclude,omitempty"`
		SearchParam       []param     `json:"searchParam"`
		Operation         []operation `json:"operation,omitempty"`
	}
	codes := func(cs ...string) []code {
		out := make([]code, len(cs))
		for i, c := range cs {
			out[i] = code{c}
		}
		return out
	}
	var resources []resource
	for _, t := range fhir.ResourceTypes() {
		r := resource{Type: t, Versioning: "versioned", ReadHistory: true, UpdateCreate: true, ConditionalDelete: "not-supported"}
		if t == "AuditEvent" {
			r.Interaction = codes("read", "vread", "history-instance", "history-type", "create", "search-type")
		} else {
			r.Interaction = codes("read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create", "search-type")
		}
		r.SearchParam = append(r.SearchParam,
			param{Name: "_id", Definition: "http://hl7.org/fhir/SearchParameter/Resource-id", Type: "token"},
			param{Name: "_lastUpdated", Definition: "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated", Type: "date"})
		for _, p := range search.Params(t) {
			if p.Code == "_id" || p.Code == "_lastUpdated" {
				continue
			}
			r.SearchParam = append(r.SearchParam, param{Name: p.Code, Definition: p.URL, Type: p.Kind.String()})
			if p.Kind == search.KindReference {
				r.SearchInclude = append(r.SearchInclude, t+":"+p.Code)
			}
		}
		if export && (t == "Patient" || t == "Group") {
			r.Operation = []operation{{Name: "export", Definition: bulkDataOperations + strings.ToLower(t) + "-export"}}
		}
		resources = append(resources, r)
	}
	doc := "Search modifiers: string :exact :contains :missing; token :not :text :missing; uri :below; reference :[type] and one level of chaining; prefixes eq ne gt lt ge le sa eb. Result parameters: _count (max 100), _sort, _include, _revinclude, _summary=count, _total. Composite and special parameters are not supported."
	if export {
		doc += " Bulk export: $export, Patient/$export and Group/[id]/$export (GET or POST) with _type, _since and _outputFormat=application/fhir+ndjson; the output location comes from the body, the outputS3Uri parameter or the server default; status and cancel (DELETE) at [base]/export/[jobId]. _typeFilter, _elements, patient and includeAssociatedData are not supported."
	}
	rest := map[string]any{
		"mode":          "server",
		"documentation": doc,
		"security": map[string]any{
			"description": "AWS Signature Version 4, signing name healthlake",
		},
		"resource":    resources,
		"interaction": codes("transaction", "batch"),
	}
	if export {
		rest["operation"] = []operation{{Name: "export", Definition: bulkDataOperations + "export"}}
	}
	cs := map[string]any{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         "2026-01-01",
		"publisher":    "fhirlake",
		"kind":         "instance",
		"software":     map[string]string{"name": "fhirlake"},
		"fhirVersion":  "4.0.1",
		"format":       []string{"application/fhir+json", "application/json"},
		"patchFormat":  []string{"application/json-patch+json"},
		"rest":         []map[string]any{rest},
	}
	if export {
		cs["instantiates"] = []string{bulkDataCapability}
	}
	b, _ := json.Marshal(cs)
	return b
}
