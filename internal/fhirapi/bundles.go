package fhirapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"

	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/store"
)

// bundleEntryReq is one parsed entry of a batch or transaction.
type bundleEntryReq struct {
	method  string
	typ, id string
	vid     string     // vread
	query   url.Values // search, when not nil
	fullURL string
	ifMatch string
	res     *fastjson.Value // POST/PUT resource
}

// bundle handles POST [base]/ with a batch or transaction Bundle.
func (h *Handler) bundle(c *call) (*response, error) {
	body, err := h.readBody(c.r)
	if err != nil {
		return nil, err
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil || v.Type() != fastjson.TypeObject || string(v.GetStringBytes("resourceType")) != "Bundle" {
		return nil, invalid("the body must be a Bundle")
	}
	kind := string(v.GetStringBytes("type"))
	if kind != "batch" && kind != "transaction" {
		return nil, invalid("the Bundle type must be batch or transaction, not %q", kind)
	}
	entries := v.GetArray("entry")
	if len(entries) > h.opt.MaxBundleEntries {
		return nil, fail(http.StatusBadRequest, "too-costly", "the Bundle has %d entries; the limit is %d", len(entries), h.opt.MaxBundleEntries)
	}
	reqs := make([]bundleEntryReq, len(entries))
	errs := make([]error, len(entries))
	for i, e := range entries {
		reqs[i], errs[i] = parseEntry(e)
		if errs[i] != nil && kind == "transaction" {
			return nil, fmt.Errorf("entry %d: %w", i, errs[i])
		}
	}
	if kind == "transaction" {
		return h.transaction(c, reqs)
	}
	return h.batch(c, reqs, errs)
}

func parseEntry(e *fastjson.Value) (bundleEntryReq, error) {
	r := bundleEntryReq{fullURL: string(e.GetStringBytes("fullUrl")), res: e.Get("resource"),
		method: string(e.GetStringBytes("request", "method")), ifMatch: string(e.GetStringBytes("request", "ifMatch"))}
	if e.Exists("request", "ifNoneExist") || e.Exists("request", "ifNoneMatch") {
		return r, fail(http.StatusBadRequest, "not-supported", "conditional create is not supported")
	}
	raw := string(e.GetStringBytes("request", "url"))
	if r.method == "" || raw == "" {
		return r, invalid("every entry needs request.method and request.url")
	}
	path, rawQuery, hasQuery := strings.Cut(strings.TrimPrefix(raw, "/"), "?")
	segs := strings.Split(path, "/")
	typ, err := resourceType(segs[0])
	if err != nil {
		return r, err
	}
	r.typ = typ
	switch {
	case r.method == http.MethodGet && len(segs) == 1:
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return r, invalid("the search %q cannot be parsed", raw)
		}
		r.query = q
		return r, nil
	case r.method == http.MethodGet && len(segs) == 4 && segs[2] == "_history":
		r.id, r.vid = segs[1], segs[3]
		return r, nil
	case r.method == http.MethodPost && len(segs) == 1 && !hasQuery:
	case (r.method == http.MethodGet || r.method == http.MethodPut || r.method == http.MethodDelete) && len(segs) == 2 && !hasQuery:
		r.id = segs[1]
	case r.method == http.MethodPatch:
		return r, fail(http.StatusBadRequest, "not-supported", "PATCH entries are not supported in Bundles")
	default:
		return r, fail(http.StatusBadRequest, "not-supported", "%s %s is not supported in a Bundle (conditional interactions are not supported)", r.method, raw)
	}
	if (r.method == http.MethodPost || r.method == http.MethodPut) && (r.res == nil || r.res.Type() != fastjson.TypeObject) {
		return r, invalid("%s %s needs a resource", r.method, raw)
	}
	return r, nil
}

// resolveReferences rewrites the references of a resource: in-Bundle fullUrls (urn:uuid:...) to
// the ids assigned to them, and conditional references ("Patient?identifier=x") to the one
// resource they match.
func (h *Handler) resolveReferences(c *call, v *fastjson.Value, ids map[string]string) error {
	var firstErr error
	var walk func(v *fastjson.Value)
	walk = func(v *fastjson.Value) {
		switch v.Type() {
		case fastjson.TypeObject:
			o, _ := v.Object()
			o.Visit(func(k []byte, m *fastjson.Value) {
				if string(k) == "reference" && m.Type() == fastjson.TypeString {
					ref := string(m.GetStringBytes())
					if to, ok := ids[ref]; ok {
						o.Set("reference", fastjson.MustParse(string(appendJSON(nil, to))))
						return
					}
					if strings.HasPrefix(ref, "urn:uuid:") {
						if firstErr == nil {
							firstErr = fail(http.StatusBadRequest, "not-found", "reference %s names no entry of the Bundle", ref)
						}
						return
					}
					if typ, q, ok := strings.Cut(ref, "?"); ok && !strings.Contains(typ, "/") {
						to, err := h.conditionalReference(c, typ, q)
						if err != nil {
							if firstErr == nil {
								firstErr = err
							}
							return
						}
						o.Set("reference", fastjson.MustParse(string(appendJSON(nil, to))))
					}
					return
				}
				walk(m)
			})
		case fastjson.TypeArray:
			for _, e := range v.GetArray() {
				walk(e)
			}
		}
	}
	walk(v)
	return firstErr
}

// conditionalReference finds the one resource a conditional reference names.
func (h *Handler) conditionalReference(c *call, typ, rawQuery string) (string, error) {
	if _, err := resourceType(typ); err != nil {
		return "", err
	}
	params, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", invalid("conditional reference %s?%s cannot be parsed", typ, rawQuery)
	}
	q, err := search.Parse(typ, params, true)
	if err != nil {
		return "", err
	}
	q.Count, q.Include, q.RevInclude, q.Sort = 2, nil, nil, nil
	sq, err := storeQuery(c.ds, q)
	if err != nil {
		return "", err
	}
	res, err := h.st.ResourceSearch(c.r.Context(), sq)
	if err != nil {
		return "", err
	}
	switch len(res.Matches) {
	case 0:
		return "", fail(http.StatusPreconditionFailed, "not-found", "conditional reference %s?%s matches no resource", typ, rawQuery)
	case 1:
		return typ + "/" + res.Matches[0].ID, nil
	}
	return "", fail(http.StatusPreconditionFailed, "multiple-matches", "conditional reference %s?%s matches more than one resource", typ, rawQuery)
}

// transaction applies all writes of the Bundle in one store transaction, then runs its reads.
func (h *Handler) transaction(c *call, reqs []bundleEntryReq) (*response, error) {
	ids := map[string]string{}
	for i := range reqs {
		r := &reqs[i]
		if r.method == http.MethodPost {
			r.id = newID()
		}
		if r.fullURL != "" && (r.method == http.MethodPost || r.method == http.MethodPut) {
			ids[r.fullURL] = r.typ + "/" + r.id
		}
	}
	var writes []store.ResourceWrite
	windex := make([]int, len(reqs))
	seen := map[string]bool{}
	for i := range reqs {
		r := &reqs[i]
		windex[i] = -1
		if r.method == http.MethodGet {
			continue
		}
		key := r.typ + "/" + r.id
		if seen[key] {
			return nil, invalid("entry %d: %s appears in more than one entry of the transaction", i, key)
		}
		seen[key] = true
		w := store.ResourceWrite{Type: r.typ, ID: r.id}
		switch r.method {
		case http.MethodDelete:
			w.Delete = true
		case http.MethodPost, http.MethodPut:
			if err := h.resolveReferences(c, r.res, ids); err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
			body, err := h.prepare(r.res.MarshalTo(nil), r.typ, r.id, r.method == http.MethodPost)
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
			w.Body, w.Index, w.IfNoneExist = body, search.Extract(r.typ, body), r.method == http.MethodPost
		}
		if r.ifMatch != "" {
			v, err := parseETag(r.ifMatch)
			if err != nil {
				return nil, err
			}
			w.IfVersion = v
		}
		windex[i] = len(writes)
		writes = append(writes, w)
	}
	results, err := h.st.ResourceWrite(c.r.Context(), c.ds, writes, h.opt.Now())
	if err != nil {
		return nil, err
	}
	b := newBundle("transaction-response")
	for i := range reqs {
		r := &reqs[i]
		if windex[i] < 0 {
			e, err := h.bundleRead(c, r)
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
			b.Entry = append(b.Entry, e)
			continue
		}
		b.Entry = append(b.Entry, writeEntry(c, r, results[windex[i]]))
	}
	return b.response(http.StatusOK)
}

// writeEntry is the response entry of an applied write.
func writeEntry(c *call, r *bundleEntryReq, res store.ResourceWriteResult) bundleEntry {
	e := bundleEntry{Response: &entryResponse{Etag: etag(res.Version), LastModified: res.LastUpdated.UTC().Format("2006-01-02T15:04:05.000Z")}}
	switch {
	case r.method == http.MethodDelete:
		e.Response.Status = "204 No Content"
	case res.Created:
		e.Response.Status = "201 Created"
	default:
		e.Response.Status = "200 OK"
	}
	if r.method != http.MethodDelete {
		e.FullURL = c.base + "/" + r.typ + "/" + r.id
		e.Response.Location = r.typ + "/" + r.id + "/_history/" + strconv.FormatInt(res.Version, 10)
	}
	return e
}

// bundleRead runs a GET entry.
func (h *Handler) bundleRead(c *call, r *bundleEntryReq) (bundleEntry, error) {
	var resp *response
	var err error
	switch {
	case r.query != nil:
		resp, err = h.search(c, r.typ, r.query, false)
	case r.vid != "":
		resp, err = h.vread(c, r.typ, r.id, r.vid)
	default:
		resp, err = h.read(c, r.typ, r.id)
	}
	if err != nil {
		return bundleEntry{}, err
	}
	e := bundleEntry{Resource: resp.bytes(), Response: &entryResponse{Status: "200 OK", Etag: resp.etag}}
	if !resp.lastModified.IsZero() {
		e.Response.LastModified = resp.lastModified.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if r.query == nil {
		e.FullURL = c.base + "/" + r.typ + "/" + r.id
	}
	return e, nil
}

// batch runs every entry on its own; a failed entry carries its OperationOutcome. A run of
// consecutive write entries is applied in one store transaction when all of its writes succeed,
// and entry by entry when one fails, which gives the results of running the entries one by one
// with one commit per run instead of one per entry.
func (h *Handler) batch(c *call, reqs []bundleEntryReq, errs []error) (*response, error) {
	out := make([]bundleEntry, len(reqs))
	failed := func(i int, err error) {
		status, body := h.outcome(err)
		out[i] = bundleEntry{Response: &entryResponse{Status: strconv.Itoa(status) + " " + http.StatusText(status), Outcome: body}}
	}
	type pending struct {
		i int
		w store.ResourceWrite
	}
	var run []pending
	apply := func() {
		defer func() { run = run[:0] }()
		if len(run) == 0 {
			return
		}
		writes := make([]store.ResourceWrite, len(run))
		for k, p := range run {
			writes[k] = p.w
		}
		if results, err := h.st.ResourceWrite(c.r.Context(), c.ds, writes, h.opt.Now()); err == nil {
			for k, p := range run {
				out[p.i] = batchWriteEntry(c, &reqs[p.i], p.w.ID, results[k])
			}
			return
		}
		for _, p := range run {
			res, err := h.st.ResourceWrite(c.r.Context(), c.ds, []store.ResourceWrite{p.w}, h.opt.Now())
			if err != nil {
				failed(p.i, err)
				continue
			}
			out[p.i] = batchWriteEntry(c, &reqs[p.i], p.w.ID, res[0])
		}
	}
	for i := range reqs {
		r := &reqs[i]
		if errs[i] != nil {
			failed(i, errs[i])
			continue
		}
		if r.method == http.MethodGet {
			apply()
			e, err := h.bundleRead(c, r)
			if err != nil {
				failed(i, err)
				continue
			}
			out[i] = e
			continue
		}
		w, err := h.entryWrite(c, r)
		if err != nil {
			failed(i, err)
			continue
		}
		run = append(run, pending{i, w})
	}
	apply()
	b := newBundle("batch-response")
	b.Entry = out
	return b.response(http.StatusOK)
}

// entryWrite turns a POST, PUT or DELETE entry of a batch into its store write.
func (h *Handler) entryWrite(c *call, r *bundleEntryReq) (store.ResourceWrite, error) {
	if r.res != nil {
		if err := h.resolveReferences(c, r.res, nil); err != nil {
			return store.ResourceWrite{}, err
		}
	}
	switch r.method {
	case http.MethodPost:
		return h.createWrite(r.typ, r.res.MarshalTo(nil), "")
	case http.MethodPut:
		return h.updateWrite(r.typ, r.id, r.res.MarshalTo(nil), r.ifMatch)
	}
	return deleteWrite(r.typ, r.id)
}

// batchWriteEntry is the response entry of a batch write, as the single interaction answers it.
func batchWriteEntry(c *call, r *bundleEntryReq, id string, res store.ResourceWriteResult) bundleEntry {
	status := http.StatusOK
	switch {
	case r.method == http.MethodDelete:
		status = http.StatusNoContent
	case r.method == http.MethodPost || res.Created:
		status = http.StatusCreated
	}
	e := bundleEntry{Response: &entryResponse{Status: strconv.Itoa(status) + " " + http.StatusText(status), Etag: etag(res.Version)}}
	if status != http.StatusNoContent {
		e.Response.LastModified = res.LastUpdated.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if status == http.StatusCreated {
		e.Response.Location = r.typ + "/" + id + "/_history/" + strconv.FormatInt(res.Version, 10)
		e.FullURL = c.base + "/" + r.typ + "/" + id
	}
	return e
}
