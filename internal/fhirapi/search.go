package fhirapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/store"
)

// strictHandling reports whether the client asked for errors on unknown parameters.
func strictHandling(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == "handling=strict" {
				return true
			}
		}
	}
	return false
}

func (h *Handler) searchGET(c *call, typ string) (*response, error) {
	return h.search(c, typ, c.r.URL.Query(), strictHandling(c.r))
}

func (h *Handler) searchPOST(c *call, typ string) (*response, error) {
	params, err := h.formParams(c)
	if err != nil {
		return nil, err
	}
	return h.search(c, typ, params, strictHandling(c.r))
}

// search runs a search of one type and renders one searchset page.
func (h *Handler) search(c *call, typ string, params url.Values, strict bool) (*response, error) {
	q, err := search.Parse(typ, params, strict)
	if err != nil {
		return nil, err
	}
	return h.searchPage(c, c.base+"/"+typ, q)
}

// searchPage runs a parsed search of one type and renders the page; self is the URL the links
// hang off ([base]/Type, or a compartment's [base]/Patient/id/Type).
func (h *Handler) searchPage(c *call, self string, q search.Query) (*response, error) {
	sq := q.SearchQuery
	sq.DatastoreID = c.ds
	if q.Page != "" {
		cur, err := base64.RawURLEncoding.DecodeString(q.Page)
		if err != nil {
			return nil, invalid("_page is not a page link of this server")
		}
		sq.Cursor = cur
	}
	ctx := c.r.Context()
	b := newBundle("searchset")
	if q.CountOnly || q.Total {
		cq := sq
		cq.CountOnly, cq.Cursor = true, nil
		res, err := h.st.ResourceSearch(ctx, cq)
		if err != nil {
			return nil, err
		}
		b.Total = &res.Total
	}
	b.link("self", self+queryString(q.Applied, q.Page))
	b.addOutcome(q.Unsupported)
	if q.CountOnly {
		return b.response(http.StatusOK)
	}
	res, err := h.st.ResourceSearch(ctx, sq)
	if err != nil {
		return nil, err
	}
	if res.Next != nil {
		b.link("next", self+queryString(q.Applied, base64.RawURLEncoding.EncodeToString(res.Next)))
	}
	sub := newSubset(q.Summary, q.Elements)
	for _, r := range res.Matches {
		if err := b.addResource(c, r, "match", sub); err != nil {
			return nil, err
		}
	}
	// _elements applies to the matches; _summary to every resource of the page.
	inc := subset{summary: sub.summary}
	for _, r := range res.Included {
		if err := b.addResource(c, r, "include", inc); err != nil {
			return nil, err
		}
	}
	return b.response(http.StatusOK)
}

// addOutcome adds the OperationOutcome entry (search mode "outcome") that reports the
// parameters a lenient search left out; nothing when there are none.
func (b *bundle) addOutcome(left []search.Unsupported) {
	if len(left) == 0 {
		return
	}
	issues := make([]fhir.Issue, len(left))
	for i, u := range left {
		issues[i] = fhir.Issue{Severity: fhir.SeverityWarning, Code: "not-supported", Expression: "http." + u.Param,
			Diagnostics: "the search parameter " + u.Param + "=" + u.Value + " was not applied: " + u.Reason}
	}
	b.Entry = append(b.Entry, bundleEntry{Resource: fhir.MarshalOperationOutcome(issues), Search: &entrySearch{Mode: "outcome"}})
}

func queryString(params url.Values, page string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range params[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(v))
		}
	}
	if page != "" {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString("_page=" + page)
	}
	if b.Len() == 0 {
		return ""
	}
	return "?" + b.String()
}

// selfQuery is the query of a request without its paging cursor.
func selfQuery(params url.Values) url.Values {
	out := url.Values{}
	for k, v := range params {
		if k != "_page" {
			out[k] = v
		}
	}
	return out
}

// bundle is a Bundle being built.
type bundle struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id"`
	Meta         *bundleMeta   `json:"meta,omitempty"`
	Type         string        `json:"type"`
	Total        *int64        `json:"total,omitempty"`
	Link         []bundleLink  `json:"link,omitempty"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleMeta struct {
	LastUpdated string `json:"lastUpdated"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource json.RawMessage `json:"resource,omitempty"`
	Search   *entrySearch    `json:"search,omitempty"`
	Request  *entryRequest   `json:"request,omitempty"`
	Response *entryResponse  `json:"response,omitempty"`
}

type entrySearch struct {
	Mode string `json:"mode"`
}

type entryRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

type entryResponse struct {
	Status       string          `json:"status"`
	Location     string          `json:"location,omitempty"`
	Etag         string          `json:"etag,omitempty"`
	LastModified string          `json:"lastModified,omitempty"`
	Outcome      json.RawMessage `json:"outcome,omitempty"`
}

func newBundle(typ string) *bundle {
	return &bundle{ResourceType: "Bundle", ID: newID(), Type: typ,
		Meta: &bundleMeta{LastUpdated: time.Now().UTC().Format("2006-01-02T15:04:05.000Z")}}
}

func (b *bundle) link(rel, u string) {
	b.Link = append(b.Link, bundleLink{Relation: rel, URL: u})
}

func (b *bundle) addResource(c *call, r store.Resource, mode string, sub subset) error {
	body, err := render(r)
	if err != nil {
		return err
	}
	if body, err = sub.apply(body, r.Type); err != nil {
		return err
	}
	b.Entry = append(b.Entry, bundleEntry{FullURL: c.base + "/" + r.Type + "/" + r.ID, Resource: body, Search: &entrySearch{Mode: mode}})
	return nil
}

// response renders the Bundle. Resources are spliced in as stored (json.Marshal would re-escape
// and re-compact every one of them).
func (b *bundle) response(status int) (*response, error) {
	entries := b.Entry
	b.Entry = nil
	head, err := json.Marshal(b)
	b.Entry = entries
	if err != nil {
		return nil, err
	}
	n := len(head) + 32
	for _, e := range entries {
		n += len(e.Resource) + 256
	}
	out := make([]byte, 0, n)
	out = append(out, head[:len(head)-1]...)
	if len(entries) > 0 {
		out = append(out, `,"entry":[`...)
		for i, e := range entries {
			if i > 0 {
				out = append(out, ',')
			}
			res := e.Resource
			e.Resource = nil
			meta, err := json.Marshal(e)
			if err != nil {
				return nil, err
			}
			out = append(out, meta[:len(meta)-1]...)
			if len(res) > 0 {
				if len(meta) > 2 {
					out = append(out, ',')
				}
				out = append(out, `"resource":`...)
				out = append(out, res...)
			}
			out = append(out, '}')
		}
		out = append(out, ']')
	}
	out = append(out, '}')
	return &response{status: status, body: out}, nil
}

// historyPage is the page size of history bundles.
const historyPage = 100

// historyEntry renders one version as a history entry.
// historyBundle adds an entry per version to b and returns it as the response.
func historyBundle(c *call, b *bundle, versions []store.Resource) (*response, error) {
	for _, r := range versions {
		e, err := historyEntry(c, r)
		if err != nil {
			return nil, err
		}
		b.Entry = append(b.Entry, e)
	}
	return b.response(http.StatusOK)
}

func historyEntry(c *call, r store.Resource) (bundleEntry, error) {
	e := bundleEntry{FullURL: c.base + "/" + r.Type + "/" + r.ID,
		Response: &entryResponse{Etag: etag(r.Version), LastModified: r.LastUpdated.UTC().Format("2006-01-02T15:04:05.000Z")}}
	switch {
	case r.Deleted:
		e.Request = &entryRequest{Method: http.MethodDelete, URL: r.Type + "/" + r.ID}
		e.Response.Status = "204 No Content"
	case r.Version == 1:
		e.Request = &entryRequest{Method: http.MethodPost, URL: r.Type}
		e.Response.Status = "201 Created"
	default:
		e.Request = &entryRequest{Method: http.MethodPut, URL: r.Type + "/" + r.ID}
		e.Response.Status = "200 OK"
	}
	if !r.Deleted {
		body, err := render(r)
		if err != nil {
			return e, err
		}
		e.Resource = body
	}
	return e, nil
}

func (h *Handler) history(c *call, typ, id string) (*response, error) {
	versions, err := h.st.ResourceHistory(c.r.Context(), c.ds, typ, id)
	if err != nil {
		return nil, err
	}
	b := newBundle("history")
	n := int64(len(versions))
	b.Total = &n
	b.link("self", c.base+"/"+typ+"/"+id+"/_history")
	return historyBundle(c, b, versions)
}

// historyCursor is the position after a type or system history page.
type historyCursor struct {
	Updated int64  `json:"u"`
	Type    string `json:"t,omitempty"`
	ID      string `json:"i"`
	Version int64  `json:"v"`
}

// typeHistory serves [base]/{type}/_history, and [base]/_history (every type) when typ is "".
func (h *Handler) typeHistory(c *call, typ string) (*response, error) {
	qv := c.r.URL.Query()
	p := store.TypeHistoryParams{DatastoreID: c.ds, Type: typ, Limit: historyPage + 1}
	if s := qv.Get("_count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, invalid("_count must be a positive integer")
		}
		p.Limit = min(n, historyPage) + 1
	}
	if s := qv.Get("_since"); s != "" {
		r, ok := search.ParseDate(s)
		if !ok {
			return nil, invalid("_since must be an instant")
		}
		p.Since = time.UnixMilli(r.Low)
	}
	for k := range qv {
		switch k {
		case "_count", "_since", "_page":
		default:
			return nil, fail("not-supported", "the history parameter %s is not supported (only _count, _since)", k)
		}
	}
	if s := qv.Get("_page"); s != "" {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		var hc historyCursor
		if err != nil || json.Unmarshal(raw, &hc) != nil || (typ != "" && hc.Type != "" && hc.Type != typ) {
			return nil, invalid("_page is not a page link of this server")
		}
		if typ != "" {
			hc.Type = typ
		}
		p.After = &store.Resource{LastUpdated: time.UnixMilli(hc.Updated), Type: hc.Type, ID: hc.ID, Version: hc.Version}
	}
	versions, err := h.st.ResourceTypeHistory(c.r.Context(), p)
	if err != nil {
		return nil, err
	}
	b := newBundle("history")
	path := c.base + "/_history"
	if typ != "" {
		path = c.base + "/" + typ + "/_history"
	}
	self := selfQuery(qv)
	b.link("self", path+queryString(self, qv.Get("_page")))
	if len(versions) == p.Limit {
		versions = versions[:p.Limit-1]
		last := versions[len(versions)-1]
		raw, _ := json.Marshal(historyCursor{Updated: last.LastUpdated.UnixMilli(), Type: last.Type, ID: last.ID, Version: last.Version})
		b.link("next", path+queryString(self, base64.RawURLEncoding.EncodeToString(raw)))
	}
	return historyBundle(c, b, versions)
}
