package fhirapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/valyala/fastjson"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/store"
)

// validate serves POST [base]/{type}/$validate and [base]/{type}/{id}/$validate. The body is a
// Parameters resource (resource, mode, profile) or the resource itself (mode and profile then
// come from the query string). The resource is checked with the validator's Check at the strict
// level, the level of the strict import and of every REST write, and nothing is stored. The answer is
// 200 with an OperationOutcome listing the issues (one "informational" issue when there are
// none); a request that cannot be read is 400.
//
// Modes: none, the resource as given (as an import line would be checked); create, as a create
// would (the server assigns the id, so a missing one is no issue); update, as an update of id (the
// body needs that id); delete, whether the resource id could be deleted.
func (h *Handler) validate(c *call, typ, id string) (*response, error) {
	if _, err := resourceType(typ); err != nil {
		return nil, err
	}
	body, err := h.readBody(c.r)
	if err != nil {
		return nil, err
	}
	q := c.r.URL.Query()
	if err := onlyParams(q, "$validate", "mode", "profile"); err != nil {
		return nil, err
	}
	mode, profile := q.Get("mode"), q.Get("profile")
	var res []byte
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil || v.Type() != fastjson.TypeObject {
		if mode != "delete" || len(body) > 0 {
			return nil, invalid("the $validate body must be a resource or a Parameters resource")
		}
	} else if string(v.GetStringBytes("resourceType")) == "Parameters" && typ != "Parameters" {
		if res, mode, profile, err = validateParameters(v, mode, profile); err != nil {
			return nil, err
		}
	} else {
		res = body
	}
	var issues []fhir.Issue
	switch mode {
	case "", "create", "update":
		if res == nil {
			return nil, invalid("$validate needs the resource to validate")
		}
		if issues, err = h.validateResource(res, typ, id, mode); err != nil {
			return nil, err
		}
	case "delete":
		if id == "" {
			return nil, invalid("mode delete validates the delete of a resource: use [type]/[id]/$validate")
		}
		if issues, err = h.validateDelete(c, typ, id); err != nil {
			return nil, err
		}
	default:
		return nil, invalid("mode must be create, update or delete, not %q", mode)
	}
	if profile != "" {
		issues = append(issues, fhir.Issue{Severity: fhir.SeverityWarning, Code: "not-supported",
			Diagnostics: "the profile " + profile + " was not checked: the resource was validated against the base R4 definition"})
	}
	if len(issues) == 0 {
		issues = []fhir.Issue{{Severity: "information", Code: "informational", Diagnostics: "the resource is valid"}}
	}
	return &response{status: http.StatusOK, body: fhir.MarshalOperationOutcome(issues)}, nil
}

// validateParameters reads a $validate Parameters body: the resource (parameter "resource") and
// the mode and profile, which must not also be in the query string.
func validateParameters(v *fastjson.Value, mode, profile string) (res []byte, m, prof string, err error) {
	m, prof = mode, profile
	for i, p := range v.GetArray("parameter") {
		name := string(p.GetStringBytes("name"))
		set := func(dst *string, value []byte) error {
			if *dst != "" {
				return invalid("the $validate parameter %s is given twice", name)
			}
			if len(value) == 0 {
				return invalid("Parameters.parameter[%d] (%s) has no value", i, name)
			}
			*dst = string(value)
			return nil
		}
		switch name {
		case "resource":
			r := p.Get("resource")
			if r == nil || r.Type() != fastjson.TypeObject || res != nil {
				return nil, "", "", invalid("Parameters.parameter[%d] (resource) must hold exactly one resource", i)
			}
			res = r.MarshalTo(nil)
		case "mode":
			value := p.GetStringBytes("valueCode")
			if value == nil {
				value = p.GetStringBytes("valueString")
			}
			if err := set(&m, value); err != nil {
				return nil, "", "", err
			}
		case "profile":
			value := p.GetStringBytes("valueCanonical")
			if value == nil {
				value = p.GetStringBytes("valueUri")
			}
			if err := set(&prof, value); err != nil {
				return nil, "", "", err
			}
		default:
			return nil, "", "", fail("not-supported", "the $validate parameter %s is not supported", name)
		}
	}
	return res, m, prof, nil
}

// validateResource checks a resource as mode says: its type, its id against the URL's, and the
// validator's strict level. Problems are issues, not errors.
func (h *Handler) validateResource(res []byte, typ, id, mode string) ([]fhir.Issue, error) {
	v, err := parseObject(res)
	if err != nil {
		return nil, err
	}
	var issues []fhir.Issue
	problem := func(code, msg string) {
		issues = append(issues, fhir.Issue{Severity: fhir.SeverityError, Code: code, Diagnostics: msg})
	}
	if got := string(v.GetStringBytes("resourceType")); got != typ {
		problem("invalid", "the resource's resourceType "+quoteJSON(got)+" is not the type "+typ+" of the URL")
	}
	bodyID := string(v.GetStringBytes("id"))
	switch {
	case id != "" && bodyID != "" && bodyID != id:
		problem("invalid", "the resource's id "+quoteJSON(bodyID)+" is not the id "+id+" of the URL")
	case mode == "update" && bodyID == "":
		problem("required", "an update needs the resource's id in the body")
	}
	if mode == "update" && typ == "AuditEvent" {
		problem("not-supported", "AuditEvent resources cannot be updated")
	}
	// The server assigns the id of a created resource, so a create needs none. Check also says of
	// each profile in meta.profile that it was not checked.
	result := h.v.Check(res, fhir.Options{Level: fhir.LevelStrict, IDOptional: mode == "create"})
	return append(issues, result.Issues...), nil
}

// validateDelete tells whether typ/id could be deleted.
func (h *Handler) validateDelete(c *call, typ, id string) ([]fhir.Issue, error) {
	if typ == "AuditEvent" {
		return []fhir.Issue{{Severity: fhir.SeverityError, Code: "not-supported", Diagnostics: "AuditEvent resources cannot be deleted"}}, nil
	}
	r, err := h.st.ResourceGet(c.r.Context(), c.ds, typ, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && r.Deleted {
		return []fhir.Issue{{Severity: fhir.SeverityError, Code: "not-found", Diagnostics: typ + "/" + id + " does not exist"}}, nil
	}
	return nil, err
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
