package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fhirlake/fhirlake/internal/awsmodel"
	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/s3io"
	"github.com/fhirlake/fhirlake/internal/store"
)

// This file is the one front door of export jobs: StartFHIRExportJob (package controlplane) and
// the FHIR $export kick-off (package fhirapi) both start them with Submitter.Submit, which checks
// the request against the HealthLake model's constraints for StartFHIRExportJob, refuses output
// buckets of another account, records the job and wakes the engine.

// JobCreator stores new jobs (store.Store.JobCreate).
type JobCreator interface {
	JobCreate(ctx context.Context, j store.Job) (got store.Job, created bool, err error)
}

// BucketAccess tells whether an account may use a bucket of the embedded object folder.
type BucketAccess interface {
	// Access returns nil when account owns bucket or bucket does not exist, and an error
	// wrapping s3io.ErrAccessDenied when another account owns it.
	Access(account, bucket string) error
}

// SubmitConfig configures a Submitter.
type SubmitConfig struct {
	Jobs JobCreator
	// Buckets, when set, refuses output locations in another account's buckets. Default nil (an
	// S3 endpoint whose own credentials decide).
	Buckets BucketAccess
	// Notify, when set, is called after a job was created. Default nil.
	Notify func()
	// NewID returns a new job id. Required.
	NewID func() string
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Submitter starts export jobs.
type Submitter struct {
	cfg   SubmitConfig
	model *awsmodel.Validator
}

// NewSubmitter returns a Submitter.
func NewSubmitter(cfg SubmitConfig) *Submitter {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Submitter{cfg: cfg, model: awsmodel.New()}
}

// Request is a request to export a data store.
type Request struct {
	Tenant      store.Tenant
	DatastoreID string
	JobName     string
	// ClientToken and RequestHash make a retried request get its job back (StartFHIRExportJob);
	// "" for none.
	ClientToken string
	RequestHash string
	// Params is what the job exports and where: OutputS3URI, KmsKeyID and DataAccessRoleArn are
	// the members of the same names of StartFHIRExportJob.
	Params jobs.ExportParams
	// Optional are the StartFHIRExportJob members, by their message path, that this request may
	// lack although the model requires them (the FHIR kick-off names its output location without
	// a KMS key or a role).
	Optional []string
}

// ErrTokenReused is a ClientToken sent again with different parameters.
var ErrTokenReused = errors.New("client token reused with different parameters")

// BucketError refuses an output location in a bucket of another account; it matches
// s3io.ErrAccessDenied.
type BucketError struct {
	URI, Bucket string
}

func (e *BucketError) Error() string {
	return "access denied to " + e.URI + ": the bucket " + e.Bucket + " belongs to another account"
}

// Is makes errors.Is(err, s3io.ErrAccessDenied) true.
func (e *BucketError) Is(target error) bool { return target == s3io.ErrAccessDenied }

// Submit checks r and records its job: a *awsmodel.ValidationError when r breaks a constraint of
// the model, a *BucketError for another account's bucket, the store's ErrNotFound or
// *NotActiveError for a data store that does not take jobs, ErrTokenReused. It returns the job as
// stored, and whether it was created (false: a ClientToken replay).
func (s *Submitter) Submit(ctx context.Context, r Request) (store.Job, bool, error) {
	p := r.Params
	in := map[string]any{"DatastoreId": r.DatastoreID}
	set := func(m map[string]any, k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set(in, "JobName", r.JobName)
	set(in, "ClientToken", r.ClientToken)
	set(in, "DataAccessRoleArn", p.DataAccessRoleArn)
	s3 := map[string]any{}
	set(s3, "S3Uri", p.OutputS3URI)
	set(s3, "KmsKeyId", p.KmsKeyID)
	in["OutputDataConfig"] = map[string]any{"S3Configuration": s3}
	body, err := json.Marshal(in)
	if err != nil {
		return store.Job{}, false, err
	}
	if err := s.model.ValidateExcept("StartFHIRExportJob", body, r.Optional...); err != nil {
		return store.Job{}, false, err
	}
	if s.cfg.Buckets != nil {
		if bucket, _, err := s3io.ParseURI(p.OutputS3URI); err == nil {
			err := s.cfg.Buckets.Access(r.Tenant.AccountID, bucket)
			if errors.Is(err, s3io.ErrAccessDenied) {
				return store.Job{}, false, &BucketError{URI: p.OutputS3URI, Bucket: bucket}
			}
			if err != nil && !errors.Is(err, s3io.ErrInvalidBucket) {
				return store.Job{}, false, err
			}
		}
	}
	if p.Level == "" {
		p.Level = "system"
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return store.Job{}, false, err
	}
	j, created, err := s.cfg.Jobs.JobCreate(ctx, store.Job{Tenant: r.Tenant, ID: s.cfg.NewID(), Kind: store.JobExport,
		DatastoreID: r.DatastoreID, Name: r.JobName, SubmitTime: s.cfg.Now(), ClientToken: r.ClientToken,
		RequestHash: r.RequestHash, Params: raw})
	if err != nil {
		return j, false, fmt.Errorf("export job: %w", err)
	}
	if !created && j.RequestHash != r.RequestHash {
		return j, false, ErrTokenReused
	}
	if created && s.cfg.Notify != nil {
		s.cfg.Notify()
	}
	return j, created, nil
}
