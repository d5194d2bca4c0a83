package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"math"

	"github.com/fhirlake/fhirlake/internal/awsjson"
	"github.com/fhirlake/fhirlake/internal/exporter"
	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/s3io"
	"github.com/fhirlake/fhirlake/internal/store"
)

// Wire shapes shared by import and export jobs.

type s3Configuration struct {
	S3URI    string `json:"S3Uri"`
	KmsKeyID string `json:"KmsKeyId"`
}

type outputDataConfig struct {
	S3Configuration *s3Configuration `json:"S3Configuration,omitempty"`
}

// s3 returns the union's S3Configuration; member names the union in the error.
func (o outputDataConfig) s3(member string) (*s3Configuration, error) {
	if o.S3Configuration == nil {
		return nil, validationErr("1 validation error detected: Value null at '%s.s3Configuration' failed to satisfy constraint: Member must not be null", member)
	}
	return o.S3Configuration, nil
}

type inputDataConfig struct {
	S3URI string `json:"S3Uri,omitempty"`
}

type jobIDInput struct {
	DatastoreID string `json:"DatastoreId"`
	JobID       string `json:"JobId"`
}

type startJobOutput struct {
	JobID       string `json:"JobId"`
	JobStatus   string `json:"JobStatus"`
	DatastoreID string `json:"DatastoreId"`
}

type listJobsInput struct {
	DatastoreID     string        `json:"DatastoreId"`
	NextToken       string        `json:"NextToken"`
	MaxResults      *int          `json:"MaxResults"`
	JobName         string        `json:"JobName"`
	JobStatus       string        `json:"JobStatus"`
	SubmittedBefore *awsjson.Time `json:"SubmittedBefore"`
	SubmittedAfter  *awsjson.Time `json:"SubmittedAfter"`
}

// startJob starts an import job (export jobs have their front door in package exporter): the store must exist
// and be ACTIVE, the caller's account must be allowed to use the buckets of locations, and a
// ClientToken replay returns the original job (or fails if the input differs). The store checks
// the data store's state and the token in the transaction that inserts the job.
func (s *Service) startJob(ctx context.Context, t store.Tenant, kind store.JobKind, datastoreID, name, token, hash string, params any, locations ...string) (any, error) {
	if err := s.checkBuckets(t, locations); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	j, created, err := s.store.JobCreate(ctx, store.Job{
		Tenant: t, ID: s.newID(), Kind: kind, DatastoreID: datastoreID, Name: name, SubmitTime: s.opt.Now(),
		ClientToken: token, RequestHash: hash, Params: raw,
	})
	var inactive *store.NotActiveError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, notFoundErr("Datastore %s does not exist", datastoreID)
	case errors.As(err, &inactive):
		return nil, validationErr("Datastore %s is %s: jobs can only be started on an ACTIVE data store", datastoreID, inactive.Status)
	case err != nil:
		return nil, err
	}
	if !created && j.RequestHash != hash {
		return nil, validationErr("ClientToken %s was already used with different parameters", token)
	}
	if created && s.opt.Jobs != nil {
		s.opt.Jobs.Notify()
	}
	return startJobOutput{JobID: j.ID, JobStatus: string(j.Status), DatastoreID: datastoreID}, nil
}

// checkBuckets refuses locations in buckets of the embedded object folder that belong to another
// account. Locations that do not parse, and buckets that do not exist yet, are left to the job,
// which fails with a message (and checks ownership again when it runs).
func (s *Service) checkBuckets(t store.Tenant, locations []string) error {
	if s.opt.Buckets == nil {
		return nil
	}
	for _, uri := range locations {
		bucket, _, err := s3io.ParseURI(uri)
		if err != nil {
			continue
		}
		err = s.opt.Buckets.Access(t.AccountID, bucket)
		if errors.Is(err, s3io.ErrAccessDenied) {
			return accessDeniedErr("Access denied to %s: the bucket %s belongs to another account", uri, bucket)
		}
		if err != nil && !errors.Is(err, s3io.ErrInvalidBucket) {
			return err
		}
	}
	return nil
}

func (s *Service) getJob(ctx context.Context, body []byte, kind store.JobKind) (store.Job, error) {
	var in jobIDInput
	t, err := tenant(ctx)
	if err != nil {
		return store.Job{}, err
	}
	if err := decode(body, &in); err != nil {
		return store.Job{}, err
	}
	if _, err := s.datastore(ctx, t, in.DatastoreID); err != nil {
		return store.Job{}, err
	}
	j, err := s.store.JobGet(ctx, t, in.DatastoreID, kind, in.JobID)
	if errors.Is(err, store.ErrNotFound) {
		return j, notFoundErr("Job %s does not exist in datastore %s", in.JobID, in.DatastoreID)
	}
	return j, err
}

// listJobs pages through a store's jobs of one kind; the token is bound to the store and filters.
func (s *Service) listJobs(ctx context.Context, body []byte, kind store.JobKind) ([]store.Job, string, error) {
	t, err := tenant(ctx)
	if err != nil {
		return nil, "", err
	}
	var in listJobsInput
	if err := decode(body, &in); err != nil {
		return nil, "", err
	}
	if _, err := s.datastore(ctx, t, in.DatastoreID); err != nil {
		return nil, "", err
	}
	p := store.JobListParams{Tenant: t, DatastoreID: in.DatastoreID, Kind: kind, Name: in.JobName,
		Status: store.JobStatus(in.JobStatus), Limit: pageSize(in.MaxResults) + 1}
	if in.SubmittedBefore != nil {
		p.SubmittedBefore = &in.SubmittedBefore.Time
	}
	if in.SubmittedAfter != nil {
		p.SubmittedAfter = &in.SubmittedAfter.Time
	}
	filter := in
	filter.NextToken, filter.MaxResults = "", nil
	scope := pageScope{Kind: string(kind) + "-jobs", Tenant: t.AccountID + "/" + t.Region, Datastore: in.DatastoreID, Filter: requestHash(filter)}
	if p.After, err = s.decodeToken(in.NextToken, scope); err != nil {
		return nil, "", err
	}
	rows, err := s.store.JobList(ctx, p)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) == p.Limit {
		rows = rows[:len(rows)-1]
		last := rows[len(rows)-1]
		next = s.encodeToken(scope, store.PageKey{Time: last.SubmitTime, ID: last.ID})
	}
	return rows, next, nil
}

// describeJob answers Describe*Job: {member: properties of the job}.
func describeJob[P any](s *Service, ctx context.Context, body []byte, kind store.JobKind, member string, props func(store.Job) P) (any, error) {
	j, err := s.getJob(ctx, body, kind)
	if err != nil {
		return nil, err
	}
	return map[string]any{member: props(j)}, nil
}

// listJobPage answers List*Jobs: {member: [properties...], NextToken} (the list always present,
// the token only when there is a next page).
func listJobPage[P any](s *Service, ctx context.Context, body []byte, kind store.JobKind, member string, props func(store.Job) P) (any, error) {
	rows, next, err := s.listJobs(ctx, body, kind)
	if err != nil {
		return nil, err
	}
	list := make([]P, 0, len(rows))
	for _, j := range rows {
		list = append(list, props(j))
	}
	out := map[string]any{member: list}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

// Import jobs.

type startImportJobInput struct {
	JobName             string           `json:"JobName,omitempty"`
	InputDataConfig     inputDataConfig  `json:"InputDataConfig"`
	JobOutputDataConfig outputDataConfig `json:"JobOutputDataConfig"`
	DatastoreID         string           `json:"DatastoreId"`
	DataAccessRoleArn   string           `json:"DataAccessRoleArn"`
	ClientToken         string           `json:"ClientToken,omitempty"`
	ValidationLevel     string           `json:"ValidationLevel,omitempty"`
}

type jobProgressReport struct {
	TotalNumberOfScannedFiles               int64   `json:"TotalNumberOfScannedFiles"`
	TotalSizeOfScannedFilesInMB             float64 `json:"TotalSizeOfScannedFilesInMB"`
	TotalNumberOfImportedFiles              int64   `json:"TotalNumberOfImportedFiles"`
	TotalNumberOfResourcesScanned           int64   `json:"TotalNumberOfResourcesScanned"`
	TotalNumberOfResourcesImported          int64   `json:"TotalNumberOfResourcesImported"`
	TotalNumberOfResourcesWithCustomerError int64   `json:"TotalNumberOfResourcesWithCustomerError"`
	TotalNumberOfFilesReadWithCustomerError int64   `json:"TotalNumberOfFilesReadWithCustomerError"`
	Throughput                              float64 `json:"Throughput"`
}

type importJobProperties struct {
	JobID               string             `json:"JobId"`
	JobName             string             `json:"JobName,omitempty"`
	JobStatus           string             `json:"JobStatus"`
	SubmitTime          awsjson.Time       `json:"SubmitTime"`
	EndTime             *awsjson.Time      `json:"EndTime,omitempty"`
	DatastoreID         string             `json:"DatastoreId"`
	InputDataConfig     inputDataConfig    `json:"InputDataConfig"`
	JobOutputDataConfig outputDataConfig   `json:"JobOutputDataConfig"`
	JobProgressReport   *jobProgressReport `json:"JobProgressReport,omitempty"`
	DataAccessRoleArn   string             `json:"DataAccessRoleArn,omitempty"`
	Message             string             `json:"Message,omitempty"`
	ValidationLevel     string             `json:"ValidationLevel,omitempty"`
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func (s *Service) importProperties(j store.Job) importJobProperties {
	var p jobs.ImportParams
	if err := json.Unmarshal(j.Params, &p); err != nil {
		s.opt.Logger.Error("bad stored import params", "job", j.ID, "err", err)
	}
	out := importJobProperties{
		JobID: j.ID, JobName: j.Name, JobStatus: string(j.Status), SubmitTime: awsjson.Time{Time: j.SubmitTime},
		EndTime: awsjson.NewTime(j.EndTime), DatastoreID: j.DatastoreID, InputDataConfig: inputDataConfig{S3URI: p.InputS3URI},
		JobOutputDataConfig: outputDataConfig{S3Configuration: &s3Configuration{
			S3URI: jobs.JobFolder(p.OutputS3URI, j.DatastoreID, "IMPORT", j.ID), KmsKeyID: p.KmsKeyID}},
		DataAccessRoleArn: p.DataAccessRoleArn, Message: j.Message, ValidationLevel: p.ValidationLevel,
	}
	if len(j.Progress) > 0 {
		var pr jobs.ImportProgress
		if err := json.Unmarshal(j.Progress, &pr); err == nil {
			out.JobProgressReport = &jobProgressReport{
				TotalNumberOfScannedFiles:               pr.ScannedFiles,
				TotalSizeOfScannedFilesInMB:             round6(float64(pr.ScannedBytes) / 1e6),
				TotalNumberOfImportedFiles:              pr.ImportedFiles,
				TotalNumberOfResourcesScanned:           pr.ResourcesScanned,
				TotalNumberOfResourcesImported:          pr.ResourcesImported,
				TotalNumberOfResourcesWithCustomerError: pr.ResourcesCustomerError,
				TotalNumberOfFilesReadWithCustomerError: pr.FilesWithCustomerError,
				Throughput:                              math.Round(pr.Throughput()*100) / 100,
			}
		}
	}
	return out
}

func (s *Service) startImportJob(ctx context.Context, body []byte) (any, error) {
	t, err := tenant(ctx)
	if err != nil {
		return nil, err
	}
	var in startImportJobInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ValidationLevel == "" {
		in.ValidationLevel = "strict"
	}
	token := in.ClientToken
	in.ClientToken = ""
	out, err := in.JobOutputDataConfig.s3("jobOutputDataConfig")
	if err != nil {
		return nil, err
	}
	params := jobs.ImportParams{InputS3URI: in.InputDataConfig.S3URI, OutputS3URI: out.S3URI, KmsKeyID: out.KmsKeyID,
		DataAccessRoleArn: in.DataAccessRoleArn, ValidationLevel: in.ValidationLevel}
	return s.startJob(ctx, t, store.JobImport, in.DatastoreID, in.JobName, token, requestHash(in), params,
		params.InputS3URI, params.OutputS3URI)
}

func (s *Service) describeImportJob(ctx context.Context, body []byte) (any, error) {
	return describeJob(s, ctx, body, store.JobImport, "ImportJobProperties", s.importProperties)
}

func (s *Service) listImportJobs(ctx context.Context, body []byte) (any, error) {
	return listJobPage(s, ctx, body, store.JobImport, "ImportJobPropertiesList", s.importProperties)
}

// Export jobs.

type startExportJobInput struct {
	JobName           string           `json:"JobName,omitempty"`
	OutputDataConfig  outputDataConfig `json:"OutputDataConfig"`
	DatastoreID       string           `json:"DatastoreId"`
	DataAccessRoleArn string           `json:"DataAccessRoleArn"`
	ClientToken       string           `json:"ClientToken,omitempty"`
}

type exportJobProperties struct {
	JobID             string           `json:"JobId"`
	JobName           string           `json:"JobName,omitempty"`
	JobStatus         string           `json:"JobStatus"`
	SubmitTime        awsjson.Time     `json:"SubmitTime"`
	EndTime           *awsjson.Time    `json:"EndTime,omitempty"`
	DatastoreID       string           `json:"DatastoreId"`
	OutputDataConfig  outputDataConfig `json:"OutputDataConfig"`
	DataAccessRoleArn string           `json:"DataAccessRoleArn,omitempty"`
	Message           string           `json:"Message,omitempty"`
}

func (s *Service) exportProperties(j store.Job) exportJobProperties {
	var p jobs.ExportParams
	if err := json.Unmarshal(j.Params, &p); err != nil {
		s.opt.Logger.Error("bad stored export params", "job", j.ID, "err", err)
	}
	return exportJobProperties{
		JobID: j.ID, JobName: j.Name, JobStatus: string(j.Status), SubmitTime: awsjson.Time{Time: j.SubmitTime},
		EndTime: awsjson.NewTime(j.EndTime), DatastoreID: j.DatastoreID,
		OutputDataConfig: outputDataConfig{S3Configuration: &s3Configuration{
			S3URI: jobs.JobFolder(p.OutputS3URI, j.DatastoreID, "EXPORT", j.ID), KmsKeyID: p.KmsKeyID}},
		DataAccessRoleArn: p.DataAccessRoleArn, Message: j.Message,
	}
}

func (s *Service) startExportJob(ctx context.Context, body []byte) (any, error) {
	t, err := tenant(ctx)
	if err != nil {
		return nil, err
	}
	var in startExportJobInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	token := in.ClientToken
	in.ClientToken = ""
	out, err := in.OutputDataConfig.s3("outputDataConfig")
	if err != nil {
		return nil, err
	}
	j, _, err := s.exports.Submit(ctx, exporter.Request{Tenant: t, DatastoreID: in.DatastoreID, JobName: in.JobName,
		ClientToken: token, RequestHash: requestHash(in),
		Params: jobs.ExportParams{OutputS3URI: out.S3URI, KmsKeyID: out.KmsKeyID, DataAccessRoleArn: in.DataAccessRoleArn, Level: "system"}})
	var inactive *store.NotActiveError
	var denied *exporter.BucketError
	switch {
	case errors.As(err, &denied):
		return nil, accessDeniedErr("Access denied to %s: the bucket %s belongs to another account", denied.URI, denied.Bucket)
	case errors.Is(err, store.ErrNotFound):
		return nil, notFoundErr("Datastore %s does not exist", in.DatastoreID)
	case errors.As(err, &inactive):
		return nil, validationErr("Datastore %s is %s: jobs can only be started on an ACTIVE data store", in.DatastoreID, inactive.Status)
	case errors.Is(err, exporter.ErrTokenReused):
		return nil, validationErr("ClientToken %s was already used with different parameters", token)
	case err != nil:
		return nil, err
	}
	return startJobOutput{JobID: j.ID, JobStatus: string(j.Status), DatastoreID: in.DatastoreID}, nil
}

func (s *Service) describeExportJob(ctx context.Context, body []byte) (any, error) {
	return describeJob(s, ctx, body, store.JobExport, "ExportJobProperties", s.exportProperties)
}

func (s *Service) listExportJobs(ctx context.Context, body []byte) (any, error) {
	return listJobPage(s, ctx, body, store.JobExport, "ExportJobPropertiesList", s.exportProperties)
}
