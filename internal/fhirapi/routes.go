package fhirapi

import (
	"net/http"
	"strings"

	"github.com/fhirlake/fhirlake/internal/search"
)

// moreRoute returns the handler of the system-level interactions, compartment searches and
// operations, or nil when segs is none of them (m is the method, HEAD read as GET):
//
//	GET  [base]?params, POST [base]/_search         system search (_type selects the types)
//	GET  [base]/_history                            system history
//	GET  [base]/{comp}/{id}/{type|*}                compartment search (also POST .../_search)
//	[base]/{type}/$op, [base]/{type}/{id}/$op       operations ($everything, $validate, $erase,
//	[base]/{type}/{id}/_history/{vid}/$erase          $purge, $document; others are 501)
//	GET  [base]/$purge/{jobId}, [base]/$erase/{jobId}  delete job status
func (h *Handler) moreRoute(segs []string, m string) func(*call) (*response, error) {
	notAllowed := func(c *call) (*response, error) {
		return nil, methodNotAllowed("%s is not supported on this path", c.r.Method)
	}
	if i := opIndex(segs); i >= 0 {
		return h.operation(segs, i, m)
	}
	switch {
	case len(segs) == 0 && m == http.MethodGet:
		return func(c *call) (*response, error) { return h.systemSearch(c, c.r.URL.Query()) }
	case len(segs) == 1 && segs[0] == "_search":
		if m != http.MethodPost {
			return notAllowed
		}
		return func(c *call) (*response, error) {
			params, err := h.formParams(c)
			if err != nil {
				return nil, err
			}
			return h.systemSearch(c, params)
		}
	case len(segs) == 1 && segs[0] == "_history":
		if m != http.MethodGet {
			return notAllowed
		}
		return func(c *call) (*response, error) { return h.typeHistory(c, "") }
	case (len(segs) == 3 || len(segs) == 4 && segs[3] == "_search") && search.CompartmentTypes(segs[0]) != nil && segs[2] != "_history":
		if len(segs) == 4 && m != http.MethodPost || len(segs) == 3 && m != http.MethodGet {
			return notAllowed
		}
		return func(c *call) (*response, error) {
			params := c.r.URL.Query()
			if len(segs) == 4 {
				var err error
				if params, err = h.formParams(c); err != nil {
					return nil, err
				}
			}
			return h.compartmentSearch(c, segs[0], segs[1], segs[2], params)
		}
	}
	return nil
}

// opIndex returns the index of the $operation segment of a path, -1 when there is none.
func opIndex(segs []string) int {
	for i, s := range segs {
		if strings.HasPrefix(s, "$") {
			return i
		}
	}
	return -1
}

// operation routes the $operation at segs[i].
func (h *Handler) operation(segs []string, i int, m string) func(*call) (*response, error) {
	op := segs[i]
	unknown := func(c *call) (*response, error) {
		return nil, notImplemented("operation %s is not supported on this path", op)
	}
	only := func(methods ...string) bool {
		for _, x := range methods {
			if m == x {
				return true
			}
		}
		return false
	}
	wrongMethod := func(c *call) (*response, error) {
		return nil, methodNotAllowed("%s is not supported on %s", c.r.Method, op)
	}
	switch {
	case i == 0 && len(segs) == 2 && (op == "$purge" || op == "$erase"):
		if !only(http.MethodGet) {
			return wrongMethod
		}
		return func(c *call) (*response, error) { return h.deleteJobStatus(c, op, segs[1]) }
	case i == 1 && len(segs) == 2:
		typ := segs[0]
		switch {
		case op == "$validate":
			if !only(http.MethodPost) {
				return wrongMethod
			}
			return func(c *call) (*response, error) { return h.validate(c, typ, "") }
		case op == "$everything" && typ == "Patient":
			if !only(http.MethodGet, http.MethodPost) {
				return wrongMethod
			}
			return func(c *call) (*response, error) { return h.everything(c, "") }
		}
	case i == 2 && len(segs) == 3:
		typ, id := segs[0], segs[1]
		switch {
		case op == "$validate":
			if !only(http.MethodPost) {
				return wrongMethod
			}
			return func(c *call) (*response, error) { return h.validate(c, typ, id) }
		case op == "$everything" && typ == "Patient":
			if !only(http.MethodGet, http.MethodPost) {
				return wrongMethod
			}
			return func(c *call) (*response, error) { return h.everything(c, id) }
		case op == "$document" && typ == "Composition":
			if !only(http.MethodGet, http.MethodPost) {
				return wrongMethod
			}
			return func(c *call) (*response, error) { return h.document(c, id) }
		case op == "$erase":
			if !only(http.MethodPost) {
				return wrongMethod
			}
			return func(c *call) (*response, error) { return h.erase(c, typ, id, "") }
		case op == "$purge" && typ == "Patient":
			if !only(http.MethodPost) {
				return wrongMethod
			}
			return func(c *call) (*response, error) { return h.purge(c, id) }
		}
	case i == 4 && len(segs) == 5 && segs[2] == "_history" && op == "$erase":
		if !only(http.MethodPost) {
			return wrongMethod
		}
		return func(c *call) (*response, error) { return h.erase(c, segs[0], segs[1], segs[3]) }
	}
	return unknown
}
