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

// searchDocumentation describes the search features beyond the parameter list.
const searchDocumentation = "Search modifiers: string :exact :contains :text (word prefixes) :missing; token :not :text :missing; " +
	"uri :below :above; reference :[type] :identifier, chains up to four links and reverse chains (_has, nested); composite " +
	"parameters with a token or reference first component; prefixes eq ne gt lt ge le sa eb ap. Result parameters: _count (max 100), " +
	"_sort, _include and _revinclude (with :iterate, and _include=*), _summary (true, text, data, count, false), _elements " +
	"(top-level elements), _total. Unsupported parameters, modifiers and prefixes are left out of the self link and reported in an " +
	"OperationOutcome entry (search.mode outcome), or refused with Prefer: handling=strict. Compartment search " +
	"[base]/{compartment}/{id}/{type|*}, system search [base]?_type=... and system history [base]/_history. Conditional create " +
	"(If-None-Exist), update, patch and delete ([type]?criteria), also in batch and transaction Bundles, which take PATCH entries " +
	"(Binary JSON Patch). Operations: Patient $everything (_since, _type, _count), $validate (mode create, update, delete; profiles " +
	"are not checked), Composition $document (persist), $erase and $purge (delete jobs, status at [base]/$erase/{jobId} and " +
	"[base]/$purge/{jobId})."

// capabilityStatement renders what this data plane really supports: every R4 resource type with
// its interactions and the search parameters that are indexed, the operations, and, when export
// is enabled, the three $export operations. deletes says whether $erase and $purge are enabled;
// deleteMax is the most resources a conditional delete deletes.
func capabilityStatement(export, deletes bool, deleteMax int) []byte {
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
		r := resource{Type: t, Versioning: "versioned", ReadHistory: true, UpdateCreate: true,
			ConditionalCreate: true, ConditionalUpdate: true, ConditionalDelete: "single"}
		if deleteMax > 1 {
			r.ConditionalDelete = "multiple"
		}
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
			r.SearchParam = append(r.SearchParam, param{Name: p.Code, Definition: p.URL, Type: p.TypeName()})
			if p.Kind == search.KindReference && p.TypeName() == "reference" {
				r.SearchInclude = append(r.SearchInclude, t+":"+p.Code)
			}
		}
		r.Operation = append(r.Operation, operation{Name: "validate", Definition: "http://hl7.org/fhir/OperationDefinition/Resource-validate"})
		switch t {
		case "Patient":
			r.Operation = append(r.Operation, operation{Name: "everything", Definition: "http://hl7.org/fhir/OperationDefinition/Patient-everything"})
			if deletes {
				r.Operation = append(r.Operation, operation{Name: "purge", Definition: "http://hl7.org/fhir/OperationDefinition/Patient-purge"})
			}
		case "Composition":
			r.Operation = append(r.Operation, operation{Name: "document", Definition: "http://hl7.org/fhir/OperationDefinition/Composition-document"})
		}
		if export && (t == "Patient" || t == "Group") {
			r.Operation = append(r.Operation, operation{Name: "export", Definition: bulkDataOperations + strings.ToLower(t) + "-export"})
		}
		resources = append(resources, r)
	}
	doc := searchDocumentation
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
		"interaction": codes("transaction", "batch", "search-system", "history-system"),
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
