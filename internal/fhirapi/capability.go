package fhirapi

import (
	"encoding/json"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/search"
)

// capabilityStatement renders what this data plane really supports: every R4 resource type with
// its interactions and the search parameters that are indexed.
func capabilityStatement() []byte {
	type code struct {
		Code string `json:"code"`
	}
	type param struct {
		Name       string `json:"name"`
		Definition string `json:"definition,omitempty"`
		Type       string `json:"type"`
	}
	type resource struct {
		Type              string   `json:"type"`
		Interaction       []code   `json:"interaction"`
		Versioning        string   `json:"versioning"`
		ReadHistory       bool     `json:"readHistory"`
		UpdateCreate      bool     `json:"updateCreate"`
		ConditionalCreate bool     `json:"conditionalCreate"`
		ConditionalUpdate bool     `json:"conditionalUpdate"`
		ConditionalDelete string   `json:"conditionalDelete"`
		SearchInclude     []string `json:"searchInclude,omitempty"`
		SearchRevInclude  []string `json:"searchRevInclude,omitempty"`
		SearchParam       []param  `json:"searchParam"`
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
		resources = append(resources, r)
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
		"rest": []map[string]any{{
			"mode":          "server",
			"documentation": "Search modifiers: string :exact :contains :missing; token :not :text :missing; uri :below; reference :[type] and one level of chaining; prefixes eq ne gt lt ge le sa eb. Result parameters: _count (max 100), _sort, _include, _revinclude, _summary=count, _total. Composite and special parameters are not supported.",
			"security": map[string]any{
				"description": "AWS Signature Version 4, signing name healthlake",
			},
			"resource":    resources,
			"interaction": codes("transaction", "batch"),
		}},
	}
	b, _ := json.Marshal(cs)
	return b
}
