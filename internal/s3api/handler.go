// Package s3api serves the Amazon S3 REST API (the subset S3 clients need to fill and read a
// bucket: buckets, objects with Range, listings, copies, multipart uploads) over the embedded
// object folder, on the service's own port. Requests are addressed path-style
// (http://host/bucket/key) or virtual-host style (http://bucket.localhost:port/key).
//
// Every request is authenticated before it arrives (sigv4.Verifier.VerifyS3 leaves the
// caller's identity in the context and the body behind a verifying reader) and served through
// the caller's account's view of the folder, so another account's bucket answers 403
// AccessDenied. Bodies stream to disk: nothing holds a whole object or part in memory. Errors
// are S3's XML errors, translated in one place (errors.go).
//
// It does not own storage (package s3io), signatures (package sigv4), object metadata (no
// Content-Type, user metadata, tags, ACLs or versions are stored: GetObject answers a type
// guessed from the key's extension), or presigned URLs.
package s3api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/fhirlake/fhirlake/internal/s3io"
	"github.com/fhirlake/fhirlake/internal/sigv4"
)

// Storage is one account's view of the object folder (s3io.Tenant).
type Storage interface {
	Buckets() ([]s3io.Bucket, error)
	Bucket(name string) (s3io.Bucket, error)
	CreateBucket(name, region string) error
	DeleteBucket(ctx context.Context, name string) error
	Walk(ctx context.Context, bucket, prefix, after string, fn func(s3io.Object) (string, error)) error
	Get(ctx context.Context, bucket, key string) (io.ReadSeekCloser, s3io.Object, error)
	Stat(ctx context.Context, bucket, key string) (s3io.Object, error)
	PutObject(ctx context.Context, bucket, key string, body io.Reader) (s3io.Object, error)
	Delete(ctx context.Context, bucket, key string) error
	Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (s3io.Object, error)
	CreateUpload(ctx context.Context, bucket, key string) (string, error)
	UploadPart(ctx context.Context, bucket, key, id string, n int, body io.Reader) (s3io.Part, error)
	CompleteUpload(ctx context.Context, bucket, key, id string, parts []s3io.Part) (s3io.Object, error)
	AbortUpload(ctx context.Context, bucket, key, id string) error
}

// Config configures a Handler.
type Config struct {
	// Storage returns the view of one account (an account id). nil: no embedded folder (an S3
	// endpoint is configured), and every request answers NotImplemented.
	Storage func(account string) Storage
	// MaxObjectSize is the largest PutObject body and the largest part, in bytes.
	// Default 5 GiB, S3's limit.
	MaxObjectSize int64
	// Logger receives internal errors (never sent to clients). Default slog.Default().
	Logger *slog.Logger
}

// Handler serves the S3 API.
type Handler struct {
	cfg Config
}

// New returns a Handler.
func New(cfg Config) *Handler {
	if cfg.MaxObjectSize <= 0 {
		cfg.MaxObjectSize = 5 << 30
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg}
}

// virtualHostSuffix marks virtual-host style addressing: Host "<bucket>.localhost[:port]".
const virtualHostSuffix = ".localhost"

// IsVirtualHost reports whether host (a Host header, with or without port) addresses a bucket
// virtual-host style.
func IsVirtualHost(host string) bool {
	return virtualBucket(host) != ""
}

func virtualBucket(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	b, ok := strings.CutSuffix(strings.ToLower(host), virtualHostSuffix)
	if !ok || b == "" {
		return ""
	}
	return b
}

// request is one S3 request, addressed.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	st     Storage
	id     sigv4.Identity
	bucket string
	key    string
	query  url.Values
}

// has reports whether the query names subresource s (with or without a value).
func (q *request) has(s string) bool {
	_, ok := q.query[s]
	return ok
}

// Operation names the S3 operation a request targets, for logs ("" when it is no S3 request).
func Operation(r *http.Request) string {
	bucket, key := address(r)
	q := r.URL.Query()
	has := func(s string) bool { _, ok := q[s]; return ok }
	switch {
	case bucket == "":
		return "S3.ListBuckets"
	case key == "":
		switch r.Method {
		case http.MethodPut:
			return "S3.CreateBucket"
		case http.MethodHead:
			return "S3.HeadBucket"
		case http.MethodDelete:
			return "S3.DeleteBucket"
		case http.MethodPost:
			return "S3.DeleteObjects"
		case http.MethodGet:
			if has("location") {
				return "S3.GetBucketLocation"
			}
			if q.Get("list-type") == "2" {
				return "S3.ListObjectsV2"
			}
			return "S3.ListObjects"
		}
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		return "S3.CopyObject"
	case r.Method == http.MethodPut && has("uploadId"):
		return "S3.UploadPart"
	case r.Method == http.MethodPut:
		return "S3.PutObject"
	case r.Method == http.MethodGet:
		return "S3.GetObject"
	case r.Method == http.MethodHead:
		return "S3.HeadObject"
	case r.Method == http.MethodDelete && has("uploadId"):
		return "S3.AbortMultipartUpload"
	case r.Method == http.MethodDelete:
		return "S3.DeleteObject"
	case r.Method == http.MethodPost && has("uploads"):
		return "S3.CreateMultipartUpload"
	case r.Method == http.MethodPost && has("uploadId"):
		return "S3.CompleteMultipartUpload"
	}
	return "S3." + r.Method
}

// address returns the bucket and key a request names.
func address(r *http.Request) (bucket, key string) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	if b := virtualBucket(r.Host); b != "" {
		return b, p
	}
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key
}

// ServeHTTP serves one authenticated S3 request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if id := w.Header().Get("X-Amzn-RequestId"); id != "" {
		w.Header().Set("X-Amz-Request-Id", id)
	}
	if h.cfg.Storage == nil {
		h.WriteError(w, r, errNotImplemented("The S3 API serves the embedded object folder; this server uses an S3 endpoint"))
		return
	}
	id, ok := sigv4.IdentityFrom(r.Context())
	if !ok {
		h.WriteError(w, r, &sigv4.Error{Kind: sigv4.MissingAuth, Msg: "Access Denied"})
		return
	}
	q := &request{w: w, r: r, st: h.cfg.Storage(id.AccountID), id: id, query: r.URL.Query()}
	q.bucket, q.key = address(r)
	if err := h.route(q); err != nil {
		h.WriteError(w, r, err)
	}
}

// route dispatches to the operation; an error is written by the caller.
func (h *Handler) route(q *request) error {
	r := q.r
	switch {
	case q.bucket == "":
		if r.Method != http.MethodGet {
			return errMethodNotAllowed
		}
		return h.listBuckets(q)
	case q.key == "":
		return h.routeBucket(q)
	}
	switch r.Method {
	case http.MethodPut:
		switch {
		case r.Header.Get("X-Amz-Copy-Source") != "" && q.has("uploadId"):
			return errNotImplemented("UploadPartCopy is not supported")
		case r.Header.Get("X-Amz-Copy-Source") != "":
			return h.copyObject(q)
		case q.has("uploadId"):
			return h.uploadPart(q)
		case len(q.query) > 0 && !onlyKnown(q.query, "x-id"):
			return errNotImplemented("This object subresource is not supported")
		}
		return h.putObject(q)
	case http.MethodGet, http.MethodHead:
		if q.has("uploadId") || q.has("acl") || q.has("tagging") || q.has("attributes") || q.has("torrent") || q.has("legal-hold") || q.has("retention") {
			return errNotImplemented("This object subresource is not supported")
		}
		return h.getObject(q, r.Method == http.MethodHead)
	case http.MethodDelete:
		if q.has("uploadId") {
			return h.abortUpload(q)
		}
		if q.has("tagging") {
			return errNotImplemented("Object tagging is not supported")
		}
		return h.deleteObject(q)
	case http.MethodPost:
		switch {
		case q.has("uploads"):
			return h.createUpload(q)
		case q.has("uploadId"):
			return h.completeUpload(q)
		}
		return errNotImplemented("This POST operation is not supported")
	}
	return errMethodNotAllowed
}

// routeBucket dispatches operations on a bucket itself.
func (h *Handler) routeBucket(q *request) error {
	r := q.r
	switch r.Method {
	case http.MethodPut:
		if !onlyKnown(q.query, "x-id") {
			return errNotImplemented("This bucket subresource is not supported")
		}
		return h.createBucket(q)
	case http.MethodHead:
		return h.headBucket(q)
	case http.MethodDelete:
		if !onlyKnown(q.query, "x-id") {
			return errNotImplemented("This bucket subresource is not supported")
		}
		return h.deleteBucket(q)
	case http.MethodPost:
		if q.has("delete") {
			return h.deleteObjects(q)
		}
		return errNotImplemented("This POST operation is not supported")
	case http.MethodGet:
		switch {
		case q.has("location"):
			return h.bucketLocation(q)
		case !onlyKnown(q.query, "list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after",
			"encoding-type", "fetch-owner", "marker", "x-id"):
			return errNotImplemented("This bucket subresource is not supported")
		}
		return h.listObjects(q)
	}
	return errMethodNotAllowed
}

// onlyKnown reports whether every query parameter is one of names.
func onlyKnown(query url.Values, names ...string) bool {
	for k := range query {
		found := false
		for _, n := range names {
			if k == n {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
