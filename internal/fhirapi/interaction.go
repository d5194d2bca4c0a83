package fhirapi

import (
	"net/http"
	"strings"
)

// Interaction names the FHIR interaction a request to /datastore/{id}/r4/... asks for, from its
// method and path alone, for metrics and logs: one of "capabilities", "batch", "search", "create",
// "history-type", "read", "vread", "update", "patch", "delete", "history-instance", "export",
// "export-status", "export-cancel" or "unknown". The names are a small fixed set (never ids or
// types), so they are safe as metric labels. It does not check that the route exists for the
// data store or that the type is valid; ServeHTTP does.
func Interaction(r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, "/datastore/")
	if !ok {
		return "unknown"
	}
	_, rest, _ = strings.Cut(rest, "/")
	rest, ok = strings.CutPrefix(rest, "r4")
	if !ok || (rest != "" && rest[0] != '/') {
		return "unknown"
	}
	var segs []string
	if t := strings.Trim(rest, "/"); t != "" {
		segs = strings.Split(t, "/")
	}
	m := r.Method
	if m == http.MethodHead {
		m = http.MethodGet
	}
	switch {
	case len(segs) == 1 && segs[0] == "$export",
		len(segs) == 2 && segs[0] == "Patient" && segs[1] == "$export",
		len(segs) == 3 && segs[0] == "Group" && segs[2] == "$export":
		return "export"
	case len(segs) == 2 && segs[0] == "export":
		if m == http.MethodDelete {
			return "export-cancel"
		}
		return "export-status"
	}
	switch len(segs) {
	case 0:
		if m == http.MethodPost {
			return "batch"
		}
	case 1:
		switch {
		case segs[0] == "metadata":
			return "capabilities"
		case m == http.MethodGet:
			return "search"
		case m == http.MethodPost:
			return "create"
		}
	case 2:
		switch {
		case segs[1] == "_search":
			return "search"
		case segs[1] == "_history":
			return "history-type"
		case strings.HasPrefix(segs[1], "$"):
			return "unknown"
		}
		switch m {
		case http.MethodGet:
			return "read"
		case http.MethodPut:
			return "update"
		case http.MethodPatch:
			return "patch"
		case http.MethodDelete:
			return "delete"
		}
	case 3:
		if segs[2] == "_history" {
			return "history-instance"
		}
	case 4:
		if segs[2] == "_history" {
			return "vread"
		}
	}
	return "unknown"
}
