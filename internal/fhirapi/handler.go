package fhirapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fhirlake/fhirlake/internal/exporter"
	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/sigv4"
	"github.com/fhirlake/fhirlake/internal/store"
)

// contentType is the media type of every response body.
const contentType = "application/fhir+json; charset=utf-8"

// defaultMaxBody is Options.MaxBody when none is set: 50 MiB, as config.DefaultMaxBodyBytes.
const defaultMaxBody = 50 << 20

// Store is the part of the store contract the data plane uses.
type Store interface {
	DatastoreGet(ctx context.Context, t store.Tenant, id string) (store.Datastore, error)
	ResourceWrite(ctx context.Context, datastoreID string, writes []store.ResourceWrite, now time.Time) ([]store.ResourceWriteResult, error)
	ResourceGet(ctx context.Context, datastoreID, typ, id string) (store.Resource, error)
	ResourceVersion(ctx context.Context, datastoreID, typ, id string, version int64) (store.Resource, error)
	ResourceHistory(ctx context.Context, datastoreID, typ, id string) ([]store.Resource, error)
	ResourceTypeHistory(ctx context.Context, p store.TypeHistoryParams) ([]store.Resource, error)
	ResourceSearch(ctx context.Context, q store.SearchQuery) (store.SearchResult, error)
}

// Budget is the memory shared by the request bodies in flight (the sigv4 verifier reserves a
// body's bytes); a PATCH reserves the resource it builds from it. Both methods are called from
// many goroutines at once.
type Budget interface {
	// Reserve takes n bytes, or takes nothing and reports false when fewer than n remain.
	Reserve(n int64) bool
	// Release gives back n bytes taken with Reserve.
	Release(n int64)
}

// Validator checks one resource at a level.
type Validator interface {
	Validate(resource []byte, level fhir.Level) fhir.Result
	// Check is Validate with options, for $validate.
	Check(resource []byte, opts fhir.Options) fhir.Result
}

// Options configures a Handler.
type Options struct {
	// PublicURL is the base URL clients reach the service at (no trailing slash); links and
	// Location headers start with it. Default: from the request's Host.
	PublicURL string
	// MaxBundleEntries caps the entries of a batch or transaction. Default 500.
	MaxBundleEntries int
	// Now returns the time of writes. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Exports keeps the jobs of FHIR bulk export ($export); nil disables bulk export (501, and the
	// CapabilityStatement does not list it). Default nil.
	Exports ExportJobs
	// Notify, when set, is called after an export job is created or asked to cancel, so that the
	// job engine looks for work at once instead of at its next poll. Default nil.
	Notify func()
	// Buckets, when set, refuses $export output locations in another account's buckets of the
	// embedded object folder (the job would fail later anyway). Default nil.
	Buckets exporter.BucketAccess
	// ExportS3URI is the output location (s3://bucket/prefix) of $export kick-offs that name none.
	// Default "": a kick-off must name one.
	ExportS3URI string
	// MaxBody bounds a request body and a resource after a PATCH, in bytes. Default 50 MiB.
	MaxBody int64
	// Budget, when set, also bounds the resources PATCH requests build: a PATCH whose result
	// does not fit is answered 429. Default nil.
	Budget Budget
	// Deletes keeps the delete jobs of $erase and $purge; nil disables both (501). Default nil.
	Deletes ExportJobs
	// ConditionalDeleteMax is how many resources one conditional delete (DELETE [type]?criteria)
	// may delete; criteria matching more are refused with 412. Default 1 (single deletes only).
	ConditionalDeleteMax int
}

// Handler serves the data plane of every data store.
type Handler struct {
	st      Store
	exports *exporter.Submitter // the front door of export jobs; nil without Options.Exports
	v       Validator
	opt     Options
	log     *slog.Logger
	caps    func() []byte // the CapabilityStatement, built on first use
}

// New returns a Handler over st that validates writes with v.
func New(st Store, v Validator, opt Options) *Handler {
	if opt.MaxBundleEntries <= 0 {
		opt.MaxBundleEntries = 500
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxBody <= 0 {
		opt.MaxBody = defaultMaxBody
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	opt.PublicURL = strings.TrimRight(opt.PublicURL, "/")
	h := &Handler{st: st, v: v, opt: opt, log: opt.Logger}
	if opt.Exports != nil {
		h.exports = exporter.NewSubmitter(exporter.SubmitConfig{Jobs: opt.Exports, Buckets: opt.Buckets, Notify: opt.Notify,
			NewID: newJobID, Now: opt.Now})
	}
	h.caps = sync.OnceValue(func() []byte {
		return capabilityStatement(opt.Exports != nil, opt.Deletes != nil, opt.ConditionalDeleteMax)
	})
	return h
}

// call is one request, resolved to its data store.
type call struct {
	ds     string // data store id
	tenant store.Tenant
	base   string // [base], no trailing slash
	r      *http.Request
}

// response is what an interaction produces; batch entries reuse it.
type response struct {
	status int
	body   []byte
	// more is written after body: a resource is sent as its stored bytes around a new meta
	// (fhir.SpliceMeta) rather than copied into one buffer.
	more         [][]byte
	etag         string
	lastModified time.Time
	location     string
	header       http.Header // more headers; they override the ones above and Content-Type
}

// ServeHTTP routes /datastore/{id}/r4/... requests.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp, err := h.serve(r)
	if err != nil {
		h.WriteError(w, r, err)
		return
	}
	hd := w.Header()
	if resp.etag != "" {
		hd.Set("ETag", resp.etag)
	}
	if !resp.lastModified.IsZero() {
		hd.Set("Last-Modified", resp.lastModified.UTC().Format(http.TimeFormat))
	}
	if resp.location != "" {
		hd.Set("Location", resp.location)
	}
	if resp.body != nil {
		hd.Set("Content-Type", contentType)
	}
	for k, v := range resp.header {
		hd[k] = v
	}
	w.WriteHeader(resp.status)
	if resp.body != nil && r.Method != http.MethodHead {
		w.Write(resp.body)
		for _, p := range resp.more {
			w.Write(p)
		}
	}
}

// bytes returns the whole body of a response.
func (r *response) bytes() []byte {
	if len(r.more) == 0 {
		return r.body
	}
	b := r.body
	for _, p := range r.more {
		b = append(b[:len(b):len(b)], p...)
	}
	return b
}

func (h *Handler) serve(r *http.Request) (*response, error) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/datastore/")
	if !ok {
		return nil, fail("not-found", "unknown path")
	}
	dsID, rest, _ := strings.Cut(rest, "/")
	rest, ok = strings.CutPrefix(rest, "r4")
	if !ok || (rest != "" && rest[0] != '/') {
		return nil, fail("not-found", "unknown path; the FHIR base is /datastore/{id}/r4/")
	}
	id, ok := sigv4.IdentityFrom(r.Context())
	if !ok {
		return nil, fail("login", "Missing Authentication Token")
	}
	tenant := store.Tenant{AccountID: id.AccountID, Region: id.Region}
	d, err := h.st.DatastoreGet(r.Context(), tenant, dsID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fail("not-found", "data store %s does not exist", dsID)
		}
		return nil, err
	}
	switch d.Status {
	case store.DatastoreActive:
	case store.DatastoreDeleted:
		return nil, fail("not-found", "data store %s does not exist", dsID)
	default:
		return nil, fail("conflict", "data store %s is %s, not ACTIVE", dsID, d.Status)
	}
	base := h.opt.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	c := &call{ds: dsID, tenant: tenant, base: base + "/datastore/" + dsID + "/r4", r: r}
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		segs = nil
	}
	m := r.Method
	if m == http.MethodHead {
		m = http.MethodGet
	}
	// Bulk export paths first: Patient/$export would otherwise read as an unsupported operation.
	if bulk := h.bulkRoute(segs); bulk != nil {
		return bulk(c)
	}
	if op := h.moreRoute(segs, m); op != nil {
		return op(c)
	}
	notAllowed := func() (*response, error) {
		return nil, methodNotAllowed("%s is not supported on this path", r.Method)
	}
	switch len(segs) {
	case 0:
		if m == http.MethodPost {
			return h.bundle(c)
		}
		return notAllowed()
	case 1:
		if segs[0] == "metadata" {
			if m != http.MethodGet {
				return notAllowed()
			}
			return &response{status: http.StatusOK, body: h.caps()}, nil
		}
		typ, err := resourceType(segs[0])
		if err != nil {
			return nil, err
		}
		switch m {
		case http.MethodGet:
			return h.searchGET(c, typ)
		case http.MethodPost:
			body, err := h.readBody(r)
			if err != nil {
				return nil, err
			}
			if cond := r.Header.Get("If-None-Exist"); cond != "" {
				return h.conditionalCreate(c, typ, body, cond, r.Header.Get("x-amz-fhir-idempotency-key"))
			}
			return h.create(c, typ, body, r.Header.Get("x-amz-fhir-idempotency-key"))
		case http.MethodPut, http.MethodPatch, http.MethodDelete:
			if r.URL.RawQuery == "" {
				break
			}
			if m == http.MethodDelete {
				return h.conditionalDelete(c, typ, r.URL.RawQuery)
			}
			body, err := h.readBody(r)
			if err != nil {
				return nil, err
			}
			if m == http.MethodPut {
				return h.conditionalUpdate(c, typ, r.URL.RawQuery, body, r.Header.Get("If-Match"))
			}
			return h.conditionalPatch(c, typ, r.URL.RawQuery, body, r.Header.Get("Content-Type"), r.Header.Get("If-Match"))
		}
		return notAllowed()
	case 2:
		typ, err := resourceType(segs[0])
		if err != nil {
			return nil, err
		}
		switch {
		case segs[1] == "_search":
			if m != http.MethodPost {
				return notAllowed()
			}
			return h.searchPOST(c, typ)
		case segs[1] == "_history":
			if m != http.MethodGet {
				return notAllowed()
			}
			return h.typeHistory(c, typ)
		case strings.HasPrefix(segs[1], "$"):
			return nil, notImplemented("operation %s is not supported", segs[1])
		}
		rid := segs[1]
		switch m {
		case http.MethodGet:
			return h.readSubset(c, typ)(h.read(c, typ, rid))
		case http.MethodPut:
			body, err := h.readBody(r)
			if err != nil {
				return nil, err
			}
			return h.update(c, typ, rid, body, r.Header.Get("If-Match"))
		case http.MethodPatch:
			body, err := h.readBody(r)
			if err != nil {
				return nil, err
			}
			return h.patch(c, typ, rid, body, r.Header.Get("Content-Type"), r.Header.Get("If-Match"))
		case http.MethodDelete:
			return h.delete(c, typ, rid)
		}
		return notAllowed()
	case 3, 4:
		typ, err := resourceType(segs[0])
		if err != nil {
			return nil, err
		}
		if segs[2] != "_history" {
			break
		}
		if m != http.MethodGet {
			return notAllowed()
		}
		if len(segs) == 3 {
			return h.history(c, typ, segs[1])
		}
		return h.readSubset(c, typ)(h.vread(c, typ, segs[1], segs[3]))
	}
	return nil, fail("not-found", "unknown path")
}

// resourceType checks a type segment.
func resourceType(s string) (string, error) {
	if !fhir.IsResourceType(s) {
		return "", fail("not-found", "%q is not an R4 resource type", s)
	}
	return s, nil
}

// readBody returns the request body: the bytes the sigv4 verifier read and checked (without a
// copy), or, for a request that did not go through it, the body read within MaxBody.
func (h *Handler) readBody(r *http.Request) ([]byte, error) {
	b, ok := sigv4.Body(r)
	if !ok {
		var err error
		if b, err = io.ReadAll(io.LimitReader(r.Body, h.opt.MaxBody+1)); err != nil {
			return nil, invalid("cannot read the request body")
		}
	}
	if int64(len(b)) > h.opt.MaxBody {
		return nil, fail("too-long", "the request body is larger than %d bytes", h.opt.MaxBody)
	}
	return b, nil
}
