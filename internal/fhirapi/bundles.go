package fhirapi

import (
	"encoding/base64"
	"errors"
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
	method      string
	typ, id     string
	vid         string     // vread
	query       url.Values // search, when not nil
	fullURL     string
	ifMatch     string
	ifNoneExist string          // conditional create criteria
	cond        string          // criteria of a conditional PUT, PATCH or DELETE ([type]?criteria)
	res         *fastjson.Value // POST/PUT resource
	patch       []byte          // PATCH: the JSON Patch document
}

// bundle handles POST [base]/ with a batch or transaction Bundle.
func (h *Handler) bundle(c *call) (*response, error) {
	body, err := h.readBody(c.r)
	if err != nil {
		return nil, err
	}
	kind, reqs, errs, err := h.parseBundle(body)
	if err != nil {
		return nil, err
	}
	if kind == "transaction" {
		for i, err := range errs {
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
		}
		return h.transaction(c, body)
	}
	return h.batch(c, reqs, errs)
}

// parseBundle reads a batch or transaction Bundle: its type, and each entry parsed or the reason
// it cannot be.
func (h *Handler) parseBundle(body []byte) (string, []bundleEntryReq, []error, error) {
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil || v.Type() != fastjson.TypeObject || string(v.GetStringBytes("resourceType")) != "Bundle" {
		return "", nil, nil, invalid("the body must be a Bundle")
	}
	kind := string(v.GetStringBytes("type"))
	if kind != "batch" && kind != "transaction" {
		return "", nil, nil, invalid("the Bundle type must be batch or transaction, not %q", kind)
	}
	entries := v.GetArray("entry")
	if len(entries) > h.opt.MaxBundleEntries {
		return "", nil, nil, fail("too-costly", "the Bundle has %d entries; the limit is %d", len(entries), h.opt.MaxBundleEntries)
	}
	reqs := make([]bundleEntryReq, len(entries))
	errs := make([]error, len(entries))
	for i, e := range entries {
		reqs[i], errs[i] = parseEntry(e)
	}
	return kind, reqs, errs, nil
}

func parseEntry(e *fastjson.Value) (bundleEntryReq, error) {
	r := bundleEntryReq{fullURL: string(e.GetStringBytes("fullUrl")), res: e.Get("resource"),
		method: string(e.GetStringBytes("request", "method")), ifMatch: string(e.GetStringBytes("request", "ifMatch")),
		ifNoneExist: string(e.GetStringBytes("request", "ifNoneExist"))}
	if e.Exists("request", "ifNoneMatch") || e.Exists("request", "ifModifiedSince") {
		return r, fail("not-supported", "request.ifNoneMatch and request.ifModifiedSince are not supported")
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
	if r.ifNoneExist != "" && r.method != http.MethodPost {
		return r, invalid("request.ifNoneExist is for POST entries (conditional create)")
	}
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
	case (r.method == http.MethodGet || r.method == http.MethodPut || r.method == http.MethodDelete || r.method == http.MethodPatch) && len(segs) == 2 && !hasQuery:
		r.id = segs[1]
	case (r.method == http.MethodPut || r.method == http.MethodDelete || r.method == http.MethodPatch) && len(segs) == 1 && hasQuery && rawQuery != "":
		r.cond = rawQuery
	default:
		return r, fail("not-supported", "%s %s is not supported in a Bundle", r.method, raw)
	}
	if (r.method == http.MethodPost || r.method == http.MethodPut) && (r.res == nil || r.res.Type() != fastjson.TypeObject) {
		return r, invalid("%s %s needs a resource", r.method, raw)
	}
	if r.method == http.MethodPatch {
		if r.patch, err = entryPatch(r.res); err != nil {
			return r, err
		}
	}
	return r, nil
}

// entryPatch reads the JSON Patch of a PATCH entry: a Binary resource with contentType
// application/json-patch+json and the document base64-encoded in data (FHIR R4 http.html, "Patch").
func entryPatch(res *fastjson.Value) ([]byte, error) {
	if res == nil || res.Type() != fastjson.TypeObject || string(res.GetStringBytes("resourceType")) != "Binary" {
		return nil, invalid("a PATCH entry carries its JSON Patch as a Binary resource (contentType application/json-patch+json, data base64)")
	}
	if err := checkPatchType(string(res.GetStringBytes("contentType"))); err != nil {
		return nil, err
	}
	patch, err := base64.StdEncoding.DecodeString(string(res.GetStringBytes("data")))
	if err != nil || len(patch) == 0 {
		return nil, invalid("the Binary of a PATCH entry must hold the JSON Patch base64-encoded in data")
	}
	return patch, nil
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
							firstErr = invalid("reference %s names no entry of the Bundle", ref)
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
	q, err := criteria(typ, rawQuery)
	if err != nil {
		return "", err
	}
	found, err := h.matches(c, q, 2)
	if err != nil {
		return "", err
	}
	switch len(found) {
	case 0:
		return "", preconditionFailed("not-found", "conditional reference %s?%s matches no resource", typ, rawQuery)
	case 1:
		return typ + "/" + found[0].ID, nil
	}
	return "", preconditionFailed("multiple-matches", "conditional reference %s?%s matches more than one resource", typ, rawQuery)
}

// transaction applies all writes of the Bundle in one store transaction, then runs its reads.
// Conditional entries decide on searches and write with the conditions they saw; when a
// concurrent write changes one of those results, the whole transaction is decided again.
func (h *Handler) transaction(c *call, body []byte) (*response, error) {
	for attempt := 0; attempt < conditionAttempts; attempt++ {
		// Entries are parsed again on each attempt: resolving references rewrites them.
		_, reqs, _, err := h.parseBundle(body)
		if err != nil {
			return nil, err
		}
		resp, err := h.transactionOnce(c, reqs)
		if errors.Is(err, store.ErrConditionChanged) {
			continue
		}
		return resp, err
	}
	return nil, errConditionRace("Bundle")
}

// txEntry is the plan of one transaction entry.
type txEntry struct {
	cond      *store.WriteCondition // the criteria's result the entry was decided on
	ifVersion int64                 // the version of a conditional update's match
	create    bool                  // conditional update without a match: create r.id
	patchFrom *store.Resource       // conditional patch: the match
	deletes   []string              // conditional delete: the ids of the matches
	matched   *store.Resource       // conditional create that matched: nothing is written
	none      bool                  // conditional delete that matched nothing
	writes    []store.ResourceWrite
	first     int    // index of writes[0] among the transaction's writes
	release   func() // gives back the memory budget of a patched resource, when set
}

func (h *Handler) transactionOnce(c *call, reqs []bundleEntryReq) (*response, error) {
	plans := make([]txEntry, len(reqs))
	defer func() {
		for _, p := range plans {
			if p.release != nil {
				p.release()
			}
		}
	}()
	ids := map[string]string{}
	// First decide every entry's target (new ids, conditional matches), so that references to
	// fullUrls resolve wherever they are.
	for i := range reqs {
		r := &reqs[i]
		if err := h.txTarget(c, r, &plans[i]); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if r.fullURL != "" && (r.method == http.MethodPost || r.method == http.MethodPut) {
			ids[r.fullURL] = r.typ + "/" + r.id
		}
	}
	var writes []store.ResourceWrite
	seen := map[string]bool{}
	for i := range reqs {
		r, p := &reqs[i], &plans[i]
		if err := h.txWrites(c, r, p, ids); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		p.first = len(writes)
		for _, w := range p.writes {
			key := w.Type + "/" + w.ID
			if seen[key] {
				return nil, invalid("entry %d: %s appears in more than one entry of the transaction", i, key)
			}
			seen[key] = true
			writes = append(writes, w)
		}
	}
	results, err := h.st.ResourceWrite(c.r.Context(), c.ds, writes, h.opt.Now())
	if err != nil {
		return nil, err
	}
	b := newBundle("transaction-response")
	for i := range reqs {
		r, p := &reqs[i], &plans[i]
		switch {
		case r.method == http.MethodGet:
			e, err := h.bundleRead(c, r)
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
			b.Entry = append(b.Entry, e)
		case p.matched != nil:
			m := p.matched
			b.Entry = append(b.Entry, bundleEntry{FullURL: c.base + "/" + m.Type + "/" + m.ID, Response: &entryResponse{Status: "200 OK",
				Location: m.Type + "/" + m.ID + "/_history/" + strconv.FormatInt(m.Version, 10), Etag: etag(m.Version), LastModified: instant(m.LastUpdated)}})
		case p.none:
			b.Entry = append(b.Entry, bundleEntry{Response: &entryResponse{Status: "204 No Content"}})
		default:
			b.Entry = append(b.Entry, writeEntry(c, r, results[p.first]))
		}
	}
	return b.response(http.StatusOK)
}

// txTarget decides what an entry writes to: a new id for a create, the match of conditional
// criteria.
func (h *Handler) txTarget(c *call, r *bundleEntryReq, p *txEntry) error {
	crit := r.cond
	if r.method == http.MethodPost {
		crit = r.ifNoneExist
	}
	if r.method == http.MethodGet || crit == "" {
		if r.method == http.MethodPost {
			r.id = newID()
		}
		return nil
	}
	q, err := criteria(r.typ, crit)
	if err != nil {
		return err
	}
	limit := 2
	if r.method == http.MethodDelete {
		limit = max(h.opt.ConditionalDeleteMax, 1) + 1
	}
	found, err := h.matches(c, q, limit)
	if err != nil {
		return err
	}
	if len(found) == limit {
		if limit > 2 {
			return preconditionFailed("too-costly", "the conditional delete criteria match more than %d %s resources, the most one request deletes", limit-1, r.typ)
		}
		return errMultipleMatches("conditional "+strings.ToLower(r.method), r.typ)
	}
	p.cond = condition(q, found)
	switch r.method {
	case http.MethodPost:
		if len(found) == 1 {
			p.matched, r.id = &found[0], found[0].ID
			return nil
		}
		r.id = newID()
	case http.MethodPut:
		if len(found) == 1 {
			r.id, p.ifVersion = found[0].ID, found[0].Version
			return nil
		}
		p.create = true
		if r.id = string(r.res.GetStringBytes("id")); r.id == "" {
			r.id = newID()
		}
	case http.MethodPatch:
		if len(found) == 0 {
			return fail("not-found", "the conditional patch criteria match no %s resource", r.typ)
		}
		p.patchFrom, r.id = &found[0], found[0].ID
	case http.MethodDelete:
		if len(found) == 0 {
			// Nothing to delete, and so no write to hang the condition on: a resource that
			// starts to match meanwhile is left alone, as if the request had come first.
			p.none = true
			return nil
		}
		for _, m := range found {
			p.deletes = append(p.deletes, m.ID)
		}
		r.id = found[0].ID
	}
	return nil
}

// txWrites builds the store writes of an entry, its references resolved with ids.
func (h *Handler) txWrites(c *call, r *bundleEntryReq, p *txEntry, ids map[string]string) error {
	var w store.ResourceWrite
	var err error
	switch {
	case r.method == http.MethodGet || p.matched != nil || p.none:
		return nil
	case r.method == http.MethodPost || r.method == http.MethodPut:
		if err := h.resolveReferences(c, r.res, ids); err != nil {
			return err
		}
		body := r.res.MarshalTo(nil)
		if r.method == http.MethodPost {
			if body, err = h.prepare(body, r.typ, r.id, true); err != nil {
				return err
			}
			w = store.ResourceWrite{Type: r.typ, ID: r.id, Body: body, IfNoneExist: true, Index: search.Extract(r.typ, body)}
			break
		}
		if r.cond != "" && len(r.res.GetStringBytes("id")) == 0 {
			body = withIDBytes(body, r.typ, r.id)
		}
		if w, err = h.updateWrite(r.typ, r.id, body, r.ifMatch); err != nil {
			return err
		}
		if w.IfVersion == 0 {
			w.IfVersion, w.IfNoneExist = p.ifVersion, p.create
		}
	case r.method == http.MethodPatch:
		cur := p.patchFrom
		if cur == nil {
			got, err := h.st.ResourceGet(c.r.Context(), c.ds, r.typ, r.id)
			if err != nil {
				return err
			}
			cur = &got
		}
		var release func()
		if w, release, err = h.patchWrite(*cur, r.patch, r.ifMatch); err != nil {
			return err
		}
		p.release = release
	case r.method == http.MethodDelete && p.deletes != nil:
		for _, id := range p.deletes {
			p.writes = append(p.writes, store.ResourceWrite{Type: r.typ, ID: id, Delete: true})
		}
		p.writes[0].Condition = p.cond
		return nil
	default: // DELETE
		if w, err = deleteWrite(r.typ, r.id); err != nil {
			return err
		}
		if r.ifMatch != "" {
			if w.IfVersion, err = parseETag(r.ifMatch); err != nil {
				return err
			}
		}
	}
	w.Condition = p.cond
	p.writes = []store.ResourceWrite{w}
	return nil
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
// consecutive plain write entries (POST, PUT, DELETE) is applied in one store transaction when all of its writes succeed,
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
		if r.method == http.MethodGet || r.method == http.MethodPatch || r.cond != "" || r.ifNoneExist != "" {
			// Reads, patches and conditional entries run on their own, after the writes before them.
			apply()
			e, err := h.batchEntry(c, r)
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

// batchEntry runs a read, a patch or a conditional entry of a batch as the interaction itself.
func (h *Handler) batchEntry(c *call, r *bundleEntryReq) (bundleEntry, error) {
	if r.method == http.MethodGet {
		return h.bundleRead(c, r)
	}
	if r.res != nil {
		if err := h.resolveReferences(c, r.res, nil); err != nil {
			return bundleEntry{}, err
		}
	}
	var resp *response
	var err error
	const patchType = "application/json-patch+json"
	switch {
	case r.method == http.MethodPost && r.ifNoneExist != "":
		resp, err = h.conditionalCreate(c, r.typ, r.res.MarshalTo(nil), r.ifNoneExist, "")
	case r.method == http.MethodPost:
		resp, err = h.create(c, r.typ, r.res.MarshalTo(nil), "")
	case r.method == http.MethodPut && r.cond != "":
		resp, err = h.conditionalUpdate(c, r.typ, r.cond, r.res.MarshalTo(nil), r.ifMatch)
	case r.method == http.MethodPut:
		resp, err = h.update(c, r.typ, r.id, r.res.MarshalTo(nil), r.ifMatch)
	case r.method == http.MethodPatch && r.cond != "":
		resp, err = h.conditionalPatch(c, r.typ, r.cond, r.patch, patchType, r.ifMatch)
	case r.method == http.MethodPatch:
		resp, err = h.patch(c, r.typ, r.id, r.patch, patchType, r.ifMatch)
	case r.method == http.MethodDelete && r.cond != "":
		resp, err = h.conditionalDelete(c, r.typ, r.cond)
	case r.method == http.MethodDelete:
		resp, err = h.delete(c, r.typ, r.id)
	}
	if err != nil {
		return bundleEntry{}, err
	}
	e := bundleEntry{Response: &entryResponse{Status: strconv.Itoa(resp.status) + " " + http.StatusText(resp.status), Etag: resp.etag}}
	if !resp.lastModified.IsZero() {
		e.Response.LastModified = resp.lastModified.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if resp.location != "" {
		e.Response.Location = strings.TrimPrefix(resp.location, c.base+"/")
		e.FullURL = c.base + "/" + r.typ + "/" + strings.Split(e.Response.Location, "/")[1]
	} else if r.id != "" && r.method != http.MethodDelete {
		e.FullURL = c.base + "/" + r.typ + "/" + r.id
	}
	return e, nil
}
