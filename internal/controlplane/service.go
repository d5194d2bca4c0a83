// Package controlplane implements the HealthLake control-plane operations (data stores, tags, import
// and export jobs) on top of the store contract: wire structs, semantic checks beyond the model's
// constraints, and the one translation of domain errors into AWS exceptions (errors.go).
//
// It does not run jobs (package jobs does), speak FHIR REST (package fhirapi), or check signatures
// (package sigv4 runs before it and leaves the caller's identity in the request context).
package controlplane

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fhirlake/fhirlake/internal/awsjson"
	"github.com/fhirlake/fhirlake/internal/awsmodel"
	"github.com/fhirlake/fhirlake/internal/exporter"
	"github.com/fhirlake/fhirlake/internal/sigv4"
	"github.com/fhirlake/fhirlake/internal/store"
)

// Notifier is told when a job was submitted so that workers look for it at once.
type Notifier interface {
	Notify()
}

// BucketAccess tells whether an account may use a bucket of the embedded object folder.
type BucketAccess interface {
	// Access returns nil when account owns bucket or bucket does not exist, and an error
	// wrapping s3io.ErrAccessDenied when another account owns it.
	Access(account, bucket string) error
}

// Options configure a Service.
type Options struct {
	// PublicURL is the service's base URL without a trailing slash; data store endpoints hang off it.
	PublicURL string
	// CreateDelay is how long a new store stays CREATING and a deleted one DELETING.
	CreateDelay time.Duration
	// MaxDatastores caps the live stores of a tenant; 0 means no cap.
	MaxDatastores int
	// Jobs is woken on job submission; may be nil.
	Jobs Notifier
	// Logger receives internal errors (never sent to clients).
	Logger *slog.Logger
	// TokenKey signs pagination tokens; keep it across restarts so tokens stay valid. nil means a
	// random key for this process.
	TokenKey []byte
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Buckets checks, when a job starts, that its S3 locations are in the caller's own buckets;
	// nil means no check (an S3 endpoint whose own credentials decide).
	Buckets BucketAccess
}

// Service holds the control-plane operations.
type Service struct {
	store    store.Store
	exports  *exporter.Submitter
	model    *awsmodel.Validator
	opt      Options
	tokenKey []byte // HMAC key of pagination tokens, random per process
	router   *awsjson.Router
	newID    func() string
}

// New returns a Service over st.
func New(st store.Store, opt Options) *Service {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	key := opt.TokenKey
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key)
	}
	s := &Service{store: st, model: awsmodel.New(), opt: opt, tokenKey: key, newID: newID}
	notify := func() {}
	if opt.Jobs != nil {
		notify = opt.Jobs.Notify
	}
	var buckets exporter.BucketAccess
	if opt.Buckets != nil {
		buckets = opt.Buckets
	}
	s.exports = exporter.NewSubmitter(exporter.SubmitConfig{Jobs: st, Buckets: buckets, Notify: notify, NewID: func() string { return s.newID() }, Now: opt.Now})
	s.router = awsjson.NewRouter("HealthLake", s.translate)
	ops := map[string]func(context.Context, []byte) (any, error){
		"CreateFHIRDatastore":   s.createDatastore,
		"DescribeFHIRDatastore": s.describeDatastore,
		"ListFHIRDatastores":    s.listDatastores,
		"DeleteFHIRDatastore":   s.deleteDatastore,
		"TagResource":           s.tagResource,
		"UntagResource":         s.untagResource,
		"ListTagsForResource":   s.listTags,
		"StartFHIRImportJob":    s.startImportJob,
		"DescribeFHIRImportJob": s.describeImportJob,
		"ListFHIRImportJobs":    s.listImportJobs,
		"StartFHIRExportJob":    s.startExportJob,
		"DescribeFHIRExportJob": s.describeExportJob,
		"ListFHIRExportJobs":    s.listExportJobs,
	}
	for name, fn := range ops {
		s.router.Handle(name, s.operation(name, fn))
	}
	return s
}

// Handler returns the AWS JSON 1.0 handler. It expects sigv4 middleware in front of it.
func (s *Service) Handler() http.Handler { return s.router }

// Operation names the operation a request targets ("" if none), for request logs.
func (s *Service) Operation(r *http.Request) string { return s.router.Operation(r) }

// WriteError writes err (e.g. a sigv4 refusal) as an AWS JSON error response; a throttled
// request is told when to retry (Retry-After, in seconds).
func (s *Service) WriteError(w http.ResponseWriter, _ *http.Request, err error) {
	e := s.translate(err)
	if e.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	awsjson.WriteError(w, e)
}

// operation validates the body against the model before the handler sees it.
func (s *Service) operation(name string, fn func(context.Context, []byte) (any, error)) awsjson.Operation {
	return func(ctx context.Context, body []byte) (any, error) {
		if err := s.model.Validate(name, body); err != nil {
			return nil, err
		}
		return fn(ctx, body)
	}
}

// tenant returns the caller's tenant from the request context.
func tenant(ctx context.Context) (store.Tenant, error) {
	id, ok := sigv4.IdentityFrom(ctx)
	if !ok {
		return store.Tenant{}, errUnauthenticated
	}
	return store.Tenant{AccountID: id.AccountID, Region: id.Region}, nil
}

// decode unmarshals an already model-validated body. encoding/json matches member names without
// regard to case, so a body that repeats a member under another spelling ("DatastoreId" and
// "datastoreid") could slip a value past the model check: such bodies are refused.
func decode(body []byte, v any) error {
	if err := checkKeys(json.NewDecoder(bytes.NewReader(body))); err != nil {
		return &awsmodel.SerializationError{Message: err.Error()}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &awsmodel.SerializationError{Message: "cannot decode request body"}
	}
	return nil
}

// checkKeys walks one JSON value and rejects objects with duplicate member names (ignoring case).
func checkKeys(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return errors.New("cannot decode request body")
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return errors.New("cannot decode request body")
			}
			k := strings.ToLower(kt.(string))
			if seen[k] {
				return fmt.Errorf("duplicate member %q in request body", kt)
			}
			seen[k] = true
			if err := checkKeys(dec); err != nil {
				return err
			}
		}
	case '[':
		for dec.More() {
			if err := checkKeys(dec); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// newID returns 32 lowercase hex characters.
func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// requestHash fingerprints a request for idempotency checks; v must have its token cleared.
func requestHash(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
