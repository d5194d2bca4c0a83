package fhirapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/store"
)

// Searches over several resource types (system search, compartment "*", $everything) run one
// store query per type, in a fixed order of types, and page through them in turn: the cursor
// names the type reached and the store's cursor within it.

// multiCursor is the position after a page of a search over several types.
type multiCursor struct {
	Part   int    `json:"p"`
	Cursor []byte `json:"c,omitempty"`
}

// multiSearch is a search over several types, one part per type.
type multiSearch struct {
	parts       []search.Query
	applied     url.Values // the parameters applied to every part, for the links
	unsupported []search.Unsupported
	count       int
	total       bool
	countOnly   bool
	page        string
	sub         subset
}

// run renders one page of the search; self is the URL the links hang off.
func (h *Handler) runMulti(c *call, self string, ms multiSearch) (*response, error) {
	var cur multiCursor
	if ms.page != "" {
		raw, err := base64.RawURLEncoding.DecodeString(ms.page)
		if err != nil || json.Unmarshal(raw, &cur) != nil || cur.Part < 0 || cur.Part > len(ms.parts) {
			return nil, invalid("_page is not a page link of this server")
		}
	}
	ctx := c.r.Context()
	b := newBundle("searchset")
	if ms.total || ms.countOnly {
		var n int64
		for _, q := range ms.parts {
			sq := q.SearchQuery
			sq.DatastoreID, sq.CountOnly = c.ds, true
			res, err := h.st.ResourceSearch(ctx, sq)
			if err != nil {
				return nil, err
			}
			n += res.Total
		}
		b.Total = &n
	}
	b.link("self", self+queryString(ms.applied, ms.page))
	b.addOutcome(ms.unsupported)
	if ms.countOnly {
		return b.response(http.StatusOK)
	}
	remaining := ms.count
	var next *multiCursor
	inc := subset{summary: ms.sub.summary}
	for p := cur.Part; p < len(ms.parts) && remaining > 0; p++ {
		sq := ms.parts[p].SearchQuery
		sq.DatastoreID, sq.Count = c.ds, remaining
		if p == cur.Part {
			sq.Cursor = cur.Cursor
		}
		res, err := h.st.ResourceSearch(ctx, sq)
		if err != nil {
			return nil, err
		}
		for _, r := range res.Matches {
			if err := b.addResource(c, r, "match", ms.sub); err != nil {
				return nil, err
			}
		}
		for _, r := range res.Included {
			if err := b.addResource(c, r, "include", inc); err != nil {
				return nil, err
			}
		}
		remaining -= len(res.Matches)
		if res.Next != nil {
			next = &multiCursor{Part: p, Cursor: res.Next}
			break
		}
		if remaining == 0 && p+1 < len(ms.parts) {
			next = &multiCursor{Part: p + 1}
		}
	}
	if next != nil {
		raw, _ := json.Marshal(next)
		b.link("next", self+queryString(ms.applied, base64.RawURLEncoding.EncodeToString(raw)))
	}
	return b.response(http.StatusOK)
}

// parseMulti parses params for each of types. A parameter that cannot be applied to one of the
// types is left out for all of them (or refused, when strict), so that every type is searched
// with the same criteria and the self link is true of all.
func parseMulti(types []string, params url.Values, strict bool) (multiSearch, error) {
	ms := multiSearch{count: search.DefaultCount}
	left := map[string]bool{}
	for _, typ := range types {
		q, err := search.Parse(typ, params, strict)
		if err != nil {
			var se *search.Error
			if errors.As(err, &se) {
				se.Msg = typ + ": " + se.Msg
			}
			return ms, err
		}
		for _, u := range q.Unsupported {
			if !left[u.Param] {
				left[u.Param] = true
				ms.unsupported = append(ms.unsupported, search.Unsupported{Param: u.Param, Value: u.Value, Reason: typ + ": " + u.Reason})
			}
		}
	}
	if len(types) > 1 && params.Has("_sort") {
		if strict {
			return ms, &search.Error{Param: "_sort", Msg: "a search of several resource types cannot be sorted", Unsupported: true}
		}
		left["_sort"] = true
		ms.unsupported = append(ms.unsupported, search.Unsupported{Param: "_sort", Value: params.Get("_sort"), Reason: "a search of several resource types cannot be sorted"})
	}
	kept := url.Values{}
	for k, v := range params {
		if !left[k] {
			kept[k] = v
		}
	}
	sort.Slice(ms.unsupported, func(i, j int) bool { return ms.unsupported[i].Param < ms.unsupported[j].Param })
	for _, typ := range types {
		q, err := search.Parse(typ, kept, strict)
		if err != nil {
			return ms, err
		}
		ms.parts = append(ms.parts, q)
		ms.applied, ms.count, ms.total, ms.countOnly, ms.page = q.Applied, q.Count, q.Total, q.CountOnly, q.Page
		ms.sub = newSubset(q.Summary, q.Elements)
	}
	if ms.applied == nil {
		ms.applied = url.Values{}
	}
	return ms, nil
}

// formParams reads the form body of a POST _search; parameters go in the body or the URL, not
// both (HealthLake's search-with-post rule).
func (h *Handler) formParams(c *call) (url.Values, error) {
	mt, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return nil, unsupportedMediaType("POST _search takes a form body (application/x-www-form-urlencoded)")
	}
	body, err := h.readBody(c.r)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalid("the form body cannot be parsed")
	}
	params := c.r.URL.Query()
	if len(form) > 0 && len(params) > 0 {
		return nil, invalid("search parameters go either in the body or in the URL, not both")
	}
	if len(form) > 0 {
		params = form
	}
	return params, nil
}

// typeList reads a _type value ("Patient,Observation"), every R4 type when empty.
func typeList(values []string) ([]string, error) {
	if len(values) == 0 {
		return fhir.ResourceTypes(), nil
	}
	var out []string
	seen := map[string]bool{}
	for _, list := range values {
		for _, t := range strings.Split(list, ",") {
			t = strings.TrimSpace(t)
			if !fhir.IsResourceType(t) {
				return nil, invalid("_type %q is not an R4 resource type", t)
			}
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// systemSearch serves [base]?params: the types of _type (every type when absent), each searched
// with the other parameters.
func (h *Handler) systemSearch(c *call, params url.Values) (*response, error) {
	types, err := typeList(params["_type"])
	if err != nil {
		return nil, err
	}
	rest := url.Values{}
	for k, v := range params {
		if k != "_type" {
			rest[k] = v
		}
	}
	ms, err := parseMulti(types, rest, strictHandling(c.r))
	if err != nil {
		return nil, err
	}
	if params.Has("_type") {
		ms.applied["_type"] = params["_type"]
	}
	return h.runMulti(c, c.base, ms)
}

// compartmentMembers is the clause selecting the resources of typ in the compartment comp/id:
// one reference predicate per member parameter, and for the compartment's own type the
// resource itself.
func compartmentMembers(comp, id, typ string) []store.SearchPredicate {
	var any []store.SearchPredicate
	if typ == comp {
		any = append(any, store.SearchPredicate{Param: "_id", Kind: store.IndexToken, AnySystem: true, Code: id})
	}
	for _, p := range search.Compartment(comp, typ) {
		any = append(any, store.SearchPredicate{Param: p, Kind: store.IndexReference, RefType: comp, RefID: id})
	}
	return any
}

// inCompartment returns q restricted to the compartment comp/id; ok is false when q's type can
// have no members there.
func inCompartment(q search.Query, comp, id string) (search.Query, bool) {
	any := compartmentMembers(comp, id, q.Type)
	if len(any) == 0 {
		return q, false
	}
	q.Where = append(append([][]store.SearchPredicate(nil), q.Where...), any)
	return q, true
}

// checkCompartment answers 404 unless comp/id is a current resource.
func (h *Handler) checkCompartment(c *call, comp, id string) error {
	r, err := h.st.ResourceGet(c.r.Context(), c.ds, comp, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && r.Deleted {
		return fail("not-found", "%s/%s does not exist", comp, id)
	}
	return err
}

// compartmentSearch serves [base]/{comp}/{id}/{type}?params and [base]/{comp}/{id}/*?params.
func (h *Handler) compartmentSearch(c *call, comp, id, typ string, params url.Values) (*response, error) {
	if err := h.checkCompartment(c, comp, id); err != nil {
		return nil, err
	}
	self := c.base + "/" + comp + "/" + id + "/" + typ
	strict := strictHandling(c.r)
	if typ != "*" {
		if _, err := resourceType(typ); err != nil {
			return nil, err
		}
		q, err := search.Parse(typ, params, strict)
		if err != nil {
			return nil, err
		}
		if q, ok := inCompartment(q, comp, id); ok {
			return h.searchPage(c, self, q)
		}
		// No resource of typ can be in such a compartment: an empty searchset.
		q.Where = append(q.Where, []store.SearchPredicate{{Param: "_id", Kind: store.IndexToken, Op: store.OpMissing, Missing: true}})
		return h.searchPage(c, self, q)
	}
	types := append([]string(nil), search.CompartmentTypes(comp)...)
	if !contains(types, comp) {
		types = append([]string{comp}, types...)
	}
	ms, err := parseMulti(types, params, strict)
	if err != nil {
		return nil, err
	}
	for i := range ms.parts {
		ms.parts[i], _ = inCompartment(ms.parts[i], comp, id)
	}
	return h.runMulti(c, self, ms)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// everything serves Patient/{id}/$everything (id "" for the type-level Patient/$everything): the
// patient and every resource of its compartment (of every patient's, type-level), paged, with
// _since (last updated at or after), _type and _count. Parameters come from the query string or,
// on POST, a Parameters body.
func (h *Handler) everything(c *call, id string) (*response, error) {
	params := c.r.URL.Query()
	if c.r.Method == http.MethodPost {
		body, err := h.readBody(c.r)
		if err != nil {
			return nil, err
		}
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := readParameters(body, params); err != nil {
				return nil, err
			}
		}
	}
	for k := range params {
		switch k {
		case "_since", "_type", "_count", "_page":
		default:
			// start and end (clinical dates) and _typeFilter would narrow the result by rules this
			// server does not apply.
			return nil, fail("not-supported", "the $everything parameter %s is not supported (only _since, _type and _count)", k)
		}
	}
	if id != "" {
		if err := h.checkCompartment(c, "Patient", id); err != nil {
			return nil, err
		}
	}
	types := []string{"Patient"}
	for _, t := range search.CompartmentTypes("Patient") {
		if t != "Patient" {
			types = append(types, t)
		}
	}
	if params.Has("_type") {
		want, err := typeList(params["_type"])
		if err != nil {
			return nil, err
		}
		var kept []string
		for _, t := range types {
			if contains(want, t) {
				kept = append(kept, t)
			}
		}
		types = kept
	}
	ms := multiSearch{count: search.DefaultCount, page: params.Get("_page"), applied: url.Values{}}
	for _, k := range []string{"_since", "_type", "_count"} {
		if params.Has(k) {
			ms.applied[k] = params[k]
		}
	}
	if s := params.Get("_count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, invalid("_count must be a positive integer")
		}
		ms.count = min(n, search.MaxCount)
	}
	var since []store.SearchPredicate
	if s := params.Get("_since"); s != "" {
		t, err := parseInstant(s)
		if err != nil {
			return nil, err
		}
		ms := t.UnixMilli()
		since = []store.SearchPredicate{{Param: "_lastUpdated", Kind: store.IndexDate, Op: store.OpGe, Low: ms, High: ms}}
	}
	for _, typ := range types {
		q := search.Query{SearchQuery: store.SearchQuery{Type: typ}}
		if id != "" {
			q, _ = inCompartment(q, "Patient", id)
		} else if typ != "Patient" {
			q.Where = [][]store.SearchPredicate{anyPatient(typ)}
		}
		if since != nil {
			q.Where = append(q.Where, since)
		}
		ms.parts = append(ms.parts, q)
	}
	self := c.base + "/Patient/$everything"
	if id != "" {
		self = c.base + "/Patient/" + id + "/$everything"
	}
	return h.runMulti(c, self, ms)
}

// anyPatient is the clause selecting the resources of typ in some patient's compartment: a member
// parameter that references a current Patient.
func anyPatient(typ string) []store.SearchPredicate {
	var any []store.SearchPredicate
	for _, p := range search.Compartment("Patient", typ) {
		any = append(any, store.SearchPredicate{Param: p, Kind: store.IndexReference, Chain: &store.SearchChain{Type: "Patient",
			Where: []store.SearchPredicate{{Param: "_lastUpdated", Kind: store.IndexDate, Op: store.OpMissing, Missing: false}}}})
	}
	return any
}
