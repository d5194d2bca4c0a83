package fhirapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/valyala/fastjson"
	"net/http"
	"strconv"
	"strings"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/store"
)

// newID returns a random (version 4) UUID, the form HealthLake gives server-assigned ids.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// validUUID reports whether s is a UUID in the 8-4-4-4-12 hex form.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// parseETag reads an If-Match value (W/"3", "3" or 3).
func parseETag(s string) (int64, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	s = strings.Trim(s, `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, invalid("If-Match must be a version ETag such as W/\"1\"")
	}
	return v, nil
}

// render returns a stored version with its server-managed meta applied.
func render(r store.Resource) ([]byte, error) {
	return fhir.SetMeta(r.Body, strconv.FormatInt(r.Version, 10), r.LastUpdated)
}

// resourceResponse is a 200/201 response carrying a resource version: its stored bytes with the
// server-managed meta spliced in as the response is written, not copied into a new buffer.
func (c *call) resourceResponse(status int, r store.Resource) (*response, error) {
	head, meta, tail, err := fhir.SpliceMeta(r.Body, strconv.FormatInt(r.Version, 10), r.LastUpdated)
	if err != nil {
		return nil, err
	}
	resp := &response{status: status, body: head, more: [][]byte{meta, tail}, etag: etag(r.Version), lastModified: r.LastUpdated}
	if status == http.StatusCreated {
		resp.location = c.versionURL(r.Type, r.ID, r.Version)
	}
	if strings.Contains(c.r.Header.Get("Prefer"), "return=minimal") {
		resp.body, resp.more = nil, nil
	}
	return resp, nil
}

func (c *call) versionURL(typ, id string, version int64) string {
	return c.base + "/" + typ + "/" + id + "/_history/" + strconv.FormatInt(version, 10)
}

func (h *Handler) read(c *call, typ, id string) (*response, error) {
	r, err := h.st.ResourceGet(c.r.Context(), c.ds, typ, id)
	if err != nil {
		return nil, err
	}
	if r.Deleted {
		return nil, gone(typ, id)
	}
	return c.resourceResponse(http.StatusOK, r)
}

func gone(typ, id string) error {
	return fail("deleted", "%s/%s has been deleted", typ, id)
}

func (h *Handler) vread(c *call, typ, id, vid string) (*response, error) {
	v, err := strconv.ParseInt(vid, 10, 64)
	if err != nil || v <= 0 {
		return nil, fail("not-found", "version %q of %s/%s does not exist", vid, typ, id)
	}
	r, err := h.st.ResourceVersion(c.r.Context(), c.ds, typ, id, v)
	if err != nil {
		return nil, err
	}
	if r.Deleted {
		return nil, gone(typ, id)
	}
	return c.resourceResponse(http.StatusOK, r)
}

// prepare checks a resource body for a write of type typ: a JSON object of that type, given the
// id (set when setID, else it must equal id), valid at the strict level. It returns the body to
// store. The body is scanned, not decoded into a tree: the validator reports the resourceType
// and id it found, and SetID rewrites the id in place.
func (h *Handler) prepare(body []byte, typ, id string, setID bool) ([]byte, error) {
	if setID {
		b, err := fhir.SetID(body, id)
		if err != nil {
			return nil, invalid("the body is not a JSON object")
		}
		body = b
	}
	res := h.v.Validate(body, fhir.LevelStrict)
	switch {
	case res.ResourceType == "" && !res.Valid():
		return nil, &apiError{issues: res.Issues}
	case res.ResourceType != typ:
		return nil, invalid("the body's resourceType %q does not match the type %s of the URL", res.ResourceType, typ)
	case !setID && res.ID == "":
		return nil, invalid("an update must carry the resource id %q in the body", id)
	case !setID && res.ID != id:
		return nil, invalid("the body's id %q does not match the id %q of the URL", res.ID, id)
	case !res.Valid():
		return nil, &apiError{issues: res.Issues}
	}
	return body, nil
}

// parseObject parses a request body that must be a JSON object.
func parseObject(body []byte) (*fastjson.Value, error) {
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil || v.Type() != fastjson.TypeObject {
		return nil, invalid("the body is not a JSON object")
	}
	return v, nil
}

// createWrite is the store write of a create: a new id, the prepared body and its index entries.
func (h *Handler) createWrite(typ string, body []byte, idemKey string) (store.ResourceWrite, error) {
	if idemKey != "" && !validUUID(idemKey) {
		return store.ResourceWrite{}, invalid("x-amz-fhir-idempotency-key must be a UUID")
	}
	id := newID()
	body, err := h.prepare(body, typ, id, true)
	if err != nil {
		return store.ResourceWrite{}, err
	}
	return store.ResourceWrite{Type: typ, ID: id, Body: body, IfNoneExist: true, Index: search.Extract(typ, body), IdempotencyKey: idemKey}, nil
}

// updateWrite is the store write of an update (or create with the given id).
func (h *Handler) updateWrite(typ, id string, body []byte, ifMatch string) (store.ResourceWrite, error) {
	if typ == "AuditEvent" {
		return store.ResourceWrite{}, methodNotAllowed("AuditEvent resources cannot be updated")
	}
	body, err := h.prepare(body, typ, id, false)
	if err != nil {
		return store.ResourceWrite{}, err
	}
	w := store.ResourceWrite{Type: typ, ID: id, Body: body, Index: search.Extract(typ, body)}
	if ifMatch != "" {
		if w.IfVersion, err = parseETag(ifMatch); err != nil {
			return store.ResourceWrite{}, err
		}
	}
	return w, nil
}

// patchWrite is the store write of a JSON Patch applied to the current version cur; the write
// holds only while cur is current. ifMatch, when given, must name cur's version. release gives
// back the memory budget the patched resource holds: call it once the write is done.
func (h *Handler) patchWrite(cur store.Resource, patch []byte, ifMatch string) (w store.ResourceWrite, release func(), err error) {
	typ, id := cur.Type, cur.ID
	nothing := func() {}
	if typ == "AuditEvent" {
		return w, nothing, methodNotAllowed("AuditEvent resources cannot be updated")
	}
	if cur.Deleted {
		return w, nothing, gone(typ, id)
	}
	if ifMatch != "" {
		v, err := parseETag(ifMatch)
		if err != nil {
			return w, nothing, err
		}
		if v != cur.Version {
			return w, nothing, fmt.Errorf("patch %s/%s: %w", typ, id, store.ErrVersionMismatch)
		}
	}
	patched, release, err := applyPatch(cur.Body, patch, h.opt.MaxBody, h.opt.Budget)
	if err != nil {
		return w, nothing, err
	}
	if patched, err = h.prepare(patched, typ, id, false); err != nil {
		release()
		return w, nothing, err
	}
	return store.ResourceWrite{Type: typ, ID: id, Body: patched, IfVersion: cur.Version, Index: search.Extract(typ, patched)}, release, nil
}

// deleteWrite is the store write of a delete.
func deleteWrite(typ, id string) (store.ResourceWrite, error) {
	if typ == "AuditEvent" {
		return store.ResourceWrite{}, methodNotAllowed("AuditEvent resources cannot be deleted")
	}
	return store.ResourceWrite{Type: typ, ID: id, Delete: true}, nil
}

func (h *Handler) create(c *call, typ string, body []byte, idemKey string) (*response, error) {
	w, err := h.createWrite(typ, body, idemKey)
	if err != nil {
		return nil, err
	}
	return h.applyCreate(c, w)
}

// applyCreate writes a create and answers it: 201, or for a replayed idempotency key 409 with the
// resource the key created.
func (h *Handler) applyCreate(c *call, w store.ResourceWrite) (*response, error) {
	res, err := h.st.ResourceWrite(c.r.Context(), c.ds, []store.ResourceWrite{w}, h.opt.Now())
	if err != nil {
		return nil, err
	}
	if res[0].Replayed {
		orig, err := h.st.ResourceVersion(c.r.Context(), c.ds, w.Type, res[0].ID, res[0].Version)
		if err != nil {
			return nil, err
		}
		resp, err := c.resourceResponse(http.StatusConflict, orig)
		if err != nil {
			return nil, err
		}
		resp.location = c.versionURL(orig.Type, orig.ID, orig.Version)
		return resp, nil
	}
	return c.resourceResponse(http.StatusCreated, store.Resource{Type: w.Type, ID: w.ID, Version: res[0].Version, LastUpdated: res[0].LastUpdated, Body: w.Body})
}

func (h *Handler) update(c *call, typ, id string, body []byte, ifMatch string) (*response, error) {
	w, err := h.updateWrite(typ, id, body, ifMatch)
	if err != nil {
		return nil, err
	}
	return h.applyUpdate(c, w)
}

// applyUpdate writes an update, a patch or an update-as-create and answers it (200 or 201).
func (h *Handler) applyUpdate(c *call, w store.ResourceWrite) (*response, error) {
	res, err := h.st.ResourceWrite(c.r.Context(), c.ds, []store.ResourceWrite{w}, h.opt.Now())
	if err != nil {
		return nil, err
	}
	status := http.StatusOK
	if res[0].Created {
		status = http.StatusCreated
	}
	return c.resourceResponse(status, store.Resource{Type: w.Type, ID: w.ID, Version: res[0].Version, LastUpdated: res[0].LastUpdated, Body: w.Body})
}

func (h *Handler) patch(c *call, typ, id string, body []byte, ctype, ifMatch string) (*response, error) {
	if typ == "AuditEvent" {
		return nil, methodNotAllowed("AuditEvent resources cannot be updated")
	}
	if err := checkPatchType(ctype); err != nil {
		return nil, err
	}
	cur, err := h.st.ResourceGet(c.r.Context(), c.ds, typ, id)
	if err != nil {
		return nil, err
	}
	w, release, err := h.patchWrite(cur, body, ifMatch)
	if err != nil {
		return nil, err
	}
	defer release()
	return h.applyUpdate(c, w)
}

// checkPatchType accepts the media type of a JSON Patch document.
func checkPatchType(ctype string) error {
	if mt, _, _ := strings.Cut(ctype, ";"); strings.TrimSpace(mt) != "application/json-patch+json" {
		return unsupportedMediaType("PATCH takes a JSON Patch document (Content-Type application/json-patch+json)")
	}
	return nil
}

func (h *Handler) delete(c *call, typ, id string) (*response, error) {
	w, err := deleteWrite(typ, id)
	if err != nil {
		return nil, err
	}
	res, err := h.st.ResourceWrite(c.r.Context(), c.ds, []store.ResourceWrite{w}, h.opt.Now())
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent, etag: etag(res[0].Version)}, nil
}

// appendJSON appends s as a JSON string.
func appendJSON(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}
