package fhirapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fhirlake/fhirlake/internal/exporter"
	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/store"
)

// ExportJobs is the job storage behind the bulk-data endpoints. The jobs are the export jobs of the
// control plane (same kind, same table), so they also show in DescribeFHIRExportJob and
// ListFHIRExportJobs and run on the same queue.
type ExportJobs interface {
	// JobCreate inserts j as SUBMITTED (QUEUED behind an unfinished export) and returns it as stored.
	JobCreate(ctx context.Context, j store.Job) (got store.Job, created bool, err error)
	// JobGet returns one job of a tenant's store; ErrNotFound for any other.
	JobGet(ctx context.Context, t store.Tenant, datastoreID string, kind store.JobKind, id string) (store.Job, error)
	// JobSetStatus moves a job whose status is one of from to status to; ErrConflict when it is in
	// another status, ErrNotFound when it is not a job of the tenant's store.
	JobSetStatus(ctx context.Context, t store.Tenant, datastoreID string, kind store.JobKind, id string, from []store.JobStatus, to store.JobStatus) (store.Job, error)
}

// Export levels, as jobs.ExportParams.Level spells them.
const (
	levelSystem  = "system"
	levelPatient = "patient"
	levelGroup   = "group"
)

// jsonType is the media type of the kick-off and status bodies, which are not FHIR resources.
const jsonType = "application/json"

// bulkRoute returns the handler of a bulk-data path, or nil when segs is not one:
//
//	[base]/$export, [base]/Patient/$export, [base]/Group/{id}/$export   kick-off
//	[base]/export/{jobId}                                                status (GET) and cancel (DELETE)
func (h *Handler) bulkRoute(segs []string) func(*call) (*response, error) {
	switch {
	case len(segs) == 1 && segs[0] == "$export":
		return func(c *call) (*response, error) { return h.kickoff(c, levelSystem, "") }
	case len(segs) == 2 && segs[0] == "Patient" && segs[1] == "$export":
		return func(c *call) (*response, error) { return h.kickoff(c, levelPatient, "") }
	case len(segs) == 3 && segs[0] == "Group" && segs[2] == "$export":
		return func(c *call) (*response, error) { return h.kickoff(c, levelGroup, segs[1]) }
	case len(segs) == 2 && segs[0] == "export":
		return func(c *call) (*response, error) { return h.exportJob(c, segs[1]) }
	}
	return nil
}

func errExportDisabled() error {
	return notImplemented("bulk export is not enabled on this server")
}

// exportBody is the HealthLake form of a kick-off body (the StartFHIRExportJob members that apply).
type exportBody struct {
	JobName          string `json:"JobName"`
	OutputDataConfig struct {
		S3Configuration struct {
			S3URI    string `json:"S3Uri"`
			KmsKeyID string `json:"KmsKeyId"`
		} `json:"S3Configuration"`
	} `json:"OutputDataConfig"`
	DataAccessRoleArn string `json:"DataAccessRoleArn"`
}

// exportRequest is a kick-off's input: FHIR parameters from the query string and a Parameters
// body, and the HealthLake members of a JSON body.
type exportRequest struct {
	params url.Values
	exportBody
}

// The bulk-data kick-off parameters this server does not support. They narrow or shape the
// output, so ignoring them would export something else than asked.
var unsupportedExportParams = []string{"_typeFilter", "_elements", "patient", "includeAssociatedData"}

// ndjsonFormats are the _outputFormat values that mean NDJSON (the bulk-data spec's list).
var ndjsonFormats = map[string]bool{"application/fhir+ndjson": true, "application/ndjson": true, "ndjson": true}

// kickoff starts an export job at one level ("group" with the Group's id) and answers 202 with the
// status URL in Content-Location.
func (h *Handler) kickoff(c *call, level, group string) (*response, error) {
	if h.opt.Exports == nil {
		return nil, errExportDisabled()
	}
	if c.r.Method != http.MethodGet && c.r.Method != http.MethodPost {
		return nil, methodNotAllowed("%s is not supported on $export; use GET or POST", c.r.Method)
	}
	req, err := h.readExportRequest(c.r)
	if err != nil {
		return nil, err
	}
	p, err := h.exportParams(req, level, group)
	if err != nil {
		return nil, err
	}
	ctx := c.r.Context()
	if level == levelGroup {
		g, err := h.st.ResourceGet(ctx, c.ds, "Group", group)
		if errors.Is(err, store.ErrNotFound) || (err == nil && g.Deleted) {
			return nil, fail("not-found", "Group/%s does not exist", group)
		}
		if err != nil {
			return nil, err
		}
	}
	j, _, err := h.exports.Submit(ctx, exporter.Request{Tenant: c.tenant, DatastoreID: c.ds, JobName: req.JobName, Params: p,
		Optional: []string{"outputDataConfig.s3Configuration.kmsKeyId", "dataAccessRoleArn"}})
	if err != nil {
		return nil, err
	}
	body, err := marshalJSON(struct {
		DatastoreID string `json:"datastoreId"`
		JobStatus   string `json:"jobStatus"`
		JobID       string `json:"jobId"`
	}{c.ds, string(j.Status), j.ID})
	if err != nil {
		return nil, err
	}
	hd := http.Header{}
	hd.Set("Content-Type", jsonType)
	hd.Set("Content-Location", c.base+"/export/"+j.ID)
	return &response{status: http.StatusAccepted, body: body, header: hd}, nil
}

// newJobID returns 32 lowercase hex characters, the form of HealthLake job ids.
func newJobID() string { return strings.ReplaceAll(newID(), "-", "") }

// readExportRequest collects the kick-off parameters from the query string and, on POST, from the
// body: a FHIR Parameters resource, or a HealthLake JSON object with JobName, OutputDataConfig and
// DataAccessRoleArn. A parameter may come from both places; single-valued ones only once in all.
func (h *Handler) readExportRequest(r *http.Request) (exportRequest, error) {
	req := exportRequest{params: r.URL.Query()}
	if r.Method != http.MethodPost {
		return req, nil
	}
	body, err := h.readBody(r)
	if err != nil {
		return req, err
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return req, nil
	}
	var probe struct {
		ResourceType *string `json:"resourceType"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return req, invalid("the $export body must be a JSON object: a FHIR Parameters resource or {\"OutputDataConfig\":...}")
	}
	switch {
	case probe.ResourceType == nil:
		if err := json.Unmarshal(body, &req.exportBody); err != nil {
			return req, invalid("the $export body is not a valid export request: %s", jsonProblem(err))
		}
	case *probe.ResourceType == "Parameters":
		if err := readParameters(body, req.params); err != nil {
			return req, err
		}
	default:
		return req, invalid("the $export body must be a Parameters resource, not %s", *probe.ResourceType)
	}
	return req, nil
}

// jsonProblem describes a decoding error without Go type names.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return te.Field + " has the wrong JSON type"
	}
	return "malformed JSON"
}

// readParameters adds the parameters of a FHIR Parameters body to v. Every parameter must carry
// one primitive value (valueString, valueInstant, valueCode, valueUri...).
func readParameters(body []byte, v url.Values) error {
	var ps struct {
		Parameter []map[string]json.RawMessage `json:"parameter"`
	}
	if err := json.Unmarshal(body, &ps); err != nil {
		return invalid("the Parameters body is not valid: %s", jsonProblem(err))
	}
	for i, p := range ps.Parameter {
		where := fmt.Sprintf("Parameters.parameter[%d]", i)
		var name string
		if err := json.Unmarshal(p["name"], &name); err != nil || name == "" {
			return invalid("%s has no name", where)
		}
		var value *string
		for k, raw := range p {
			if !strings.HasPrefix(k, "value") {
				continue
			}
			var s string
			if value != nil {
				return invalid("%s (%s) must have exactly one primitive value", where, name)
			}
			if json.Unmarshal(raw, &s) != nil {
				// valueBoolean, valueInteger, valueDecimal: their JSON text is the value.
				var b bool
				var n json.Number
				if json.Unmarshal(raw, &b) != nil && json.Unmarshal(raw, &n) != nil {
					return invalid("%s (%s) must have exactly one primitive value", where, name)
				}
				s = string(bytes.TrimSpace(raw))
			}
			value = &s
		}
		if value == nil {
			return invalid("%s (%s) has no value", where, name)
		}
		v.Add(name, *value)
	}
	return nil
}

// exportParams checks a kick-off's parameters and turns them into the job's parameters.
func (h *Handler) exportParams(req exportRequest, level, group string) (jobs.ExportParams, error) {
	p := jobs.ExportParams{Level: level, Group: group}
	q := req.params
	for _, name := range unsupportedExportParams {
		if q.Has(name) {
			return p, fail("not-supported", "the $export parameter %s is not supported", name)
		}
	}
	single := func(name string) (string, error) {
		vs := q[name]
		if len(vs) > 1 {
			return "", invalid("the $export parameter %s is given %d times; give it once", name, len(vs))
		}
		if len(vs) == 0 {
			return "", nil
		}
		return strings.TrimSpace(vs[0]), nil
	}
	format, err := single("_outputFormat")
	if err != nil {
		return p, err
	}
	if format != "" && !ndjsonFormats[format] {
		return p, fail("not-supported", "_outputFormat %q is not supported; the only format is application/fhir+ndjson", format)
	}
	since, err := single("_since")
	if err != nil {
		return p, err
	}
	if since != "" {
		t, err := parseInstant(since)
		if err != nil {
			return p, err
		}
		p.Since = t.UnixMilli()
	}
	seen := map[string]bool{}
	for _, list := range q["_type"] {
		for _, typ := range strings.Split(list, ",") {
			typ = strings.TrimSpace(typ)
			if !fhir.IsResourceType(typ) {
				return p, invalid("_type %q is not an R4 resource type", typ)
			}
			if !seen[typ] {
				seen[typ] = true
				p.Types = append(p.Types, typ)
			}
		}
	}
	if level == levelGroup && !validFHIRID(group) {
		return p, fail("not-found", "Group/%s does not exist: %q is not a FHIR id", group, group)
	}

	// The output location: the body, else the query string, else the server's default.
	queryURI, err := single("outputS3Uri")
	if err != nil {
		return p, err
	}
	s3 := req.OutputDataConfig.S3Configuration
	switch {
	case s3.S3URI != "":
		p.OutputS3URI = s3.S3URI
	case queryURI != "":
		p.OutputS3URI = queryURI
	default:
		p.OutputS3URI = h.opt.ExportS3URI
	}
	if p.OutputS3URI == "" {
		return p, invalid("no output location: give OutputDataConfig.S3Configuration.S3Uri in the body or the outputS3Uri parameter (the server has no default)")
	}
	p.KmsKeyID, p.DataAccessRoleArn = s3.KmsKeyID, req.DataAccessRoleArn
	return p, nil
}

// parseInstant reads a FHIR instant: a date and time with seconds and a time zone.
func parseInstant(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, invalid("_since %q is not a FHIR instant such as 2024-01-31T12:00:00.000Z", s)
	}
	return t, nil
}

// validFHIRID reports whether s matches the FHIR id syntax [A-Za-z0-9\-.]{1,64}.
func validFHIRID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// exportJob serves [base]/export/{jobId}: the job's status (GET) or a cancel request (DELETE).
func (h *Handler) exportJob(c *call, jobID string) (*response, error) {
	if h.opt.Exports == nil {
		return nil, errExportDisabled()
	}
	switch c.r.Method {
	case http.MethodGet, http.MethodHead:
		return h.exportStatus(c, jobID)
	case http.MethodDelete:
		return h.exportCancel(c, jobID)
	}
	return nil, methodNotAllowed("%s is not supported on an export job; use GET or DELETE", c.r.Method)
}

func errNoExportJob(jobID string) error {
	return fail("not-found", "export job %s does not exist in this data store", jobID)
}

// exportCancel asks for a job to be cancelled: the worker then moves it through
// CANCEL_IN_PROGRESS to CANCEL_COMPLETED. Asking again while that happens is accepted again; a
// job that has ended gives 409.
func (h *Handler) exportCancel(c *call, jobID string) (*response, error) {
	ctx := c.r.Context()
	_, err := h.opt.Exports.JobSetStatus(ctx, c.tenant, c.ds, store.JobExport, jobID,
		[]store.JobStatus{store.JobSubmitted, store.JobQueued, store.JobInProgress}, store.JobCancelSubmitted)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errNoExportJob(jobID)
	case errors.Is(err, store.ErrConflict):
		j, err := h.opt.Exports.JobGet(ctx, c.tenant, c.ds, store.JobExport, jobID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errNoExportJob(jobID)
		}
		if err != nil {
			return nil, err
		}
		if j.Status.Terminal() {
			return nil, fail("conflict", "export job %s has already ended: %s", jobID, j.Status)
		}
	case err != nil:
		return nil, err
	}
	if h.opt.Notify != nil {
		h.opt.Notify()
	}
	body := fhir.MarshalOperationOutcome([]fhir.Issue{{Severity: "information", Code: "informational",
		Diagnostics: "cancellation of export job " + jobID + " was requested"}})
	return &response{status: http.StatusAccepted, body: body}, nil
}

// exportS3Configuration and the types below are the status document (camelCase, as HealthLake's
// data plane writes it).
type exportS3Configuration struct {
	S3URI    string `json:"s3Uri"`
	KmsKeyID string `json:"kmsKeyId,omitempty"`
}

type exportOutputDataConfig struct {
	S3Configuration exportS3Configuration `json:"s3Configuration"`
}

type exportJobProperties struct {
	JobID             string                 `json:"jobId"`
	JobName           string                 `json:"jobName,omitempty"`
	JobStatus         string                 `json:"jobStatus"`
	SubmitTime        string                 `json:"submitTime"`
	EndTime           string                 `json:"endTime,omitempty"`
	DatastoreID       string                 `json:"datastoreId"`
	OutputDataConfig  exportOutputDataConfig `json:"outputDataConfig"`
	DataAccessRoleArn string                 `json:"dataAccessRoleArn,omitempty"`
	Message           string                 `json:"message,omitempty"`
}

type exportOutput struct {
	Type  string `json:"type"`
	URL   string `json:"url"`
	Count int    `json:"count,omitempty"`
}

type exportStatusDoc struct {
	ExportJobProperties exportJobProperties `json:"exportJobProperties"`
	// TransactionTime is the submit time: resources changed after it may still be exported.
	TransactionTime     string         `json:"transactionTime"`
	Request             string         `json:"request"`
	RequiresAccessToken bool           `json:"requiresAccessToken"`
	Output              []exportOutput `json:"output"`
	Error               []exportOutput `json:"error"`
}

// exportStatus reports on a job: 202 while it runs (with X-Progress), 200 once it has ended. The
// output lists the objects written so far.
func (h *Handler) exportStatus(c *call, jobID string) (*response, error) {
	j, err := h.opt.Exports.JobGet(c.r.Context(), c.tenant, c.ds, store.JobExport, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoExportJob(jobID)
	}
	if err != nil {
		return nil, err
	}
	var p jobs.ExportParams
	if err := json.Unmarshal(j.Params, &p); err != nil {
		return nil, fmt.Errorf("export job %s: read params: %w", j.ID, err)
	}
	var prog exporter.Progress
	if len(j.Progress) > 0 {
		if err := json.Unmarshal(j.Progress, &prog); err != nil {
			return nil, fmt.Errorf("export job %s: read progress: %w", j.ID, err)
		}
	}
	doc := exportStatusDoc{
		ExportJobProperties: exportJobProperties{
			JobID: j.ID, JobName: j.Name, JobStatus: string(j.Status), SubmitTime: instant(j.SubmitTime),
			DatastoreID: j.DatastoreID,
			OutputDataConfig: exportOutputDataConfig{S3Configuration: exportS3Configuration{
				S3URI: jobs.JobFolder(p.OutputS3URI, j.DatastoreID, "EXPORT", j.ID), KmsKeyID: p.KmsKeyID}},
			DataAccessRoleArn: p.DataAccessRoleArn, Message: j.Message,
		},
		TransactionTime: instant(j.SubmitTime),
		Request:         exportRequestURL(c.base, p),
		Output:          []exportOutput{},
		Error:           []exportOutput{},
	}
	if !j.EndTime.IsZero() {
		doc.ExportJobProperties.EndTime = instant(j.EndTime)
	}
	for _, o := range prog.Output {
		doc.Output = append(doc.Output, exportOutput{Type: o.Type, URL: o.URL, Count: o.Count})
	}
	body, err := marshalJSON(doc)
	if err != nil {
		return nil, err
	}
	hd := http.Header{}
	hd.Set("Content-Type", jsonType)
	status := http.StatusOK
	if !j.Status.Terminal() {
		status = http.StatusAccepted
		hd.Set("X-Progress", string(j.Status)+": "+strconv.FormatInt(prog.Exported, 10)+" resources exported")
		hd.Set("Retry-After", "1")
	}
	return &response{status: status, body: body, header: hd}, nil
}

// marshalJSON is json.Marshal without HTML escaping, so URLs keep their & as is.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// instant formats t as a FHIR instant with milliseconds in UTC.
func instant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// exportRequestURL rebuilds the kick-off URL of a job from its parameters; jobs started with
// StartFHIRExportJob read as a system-level $export.
func exportRequestURL(base string, p jobs.ExportParams) string {
	u := base + "/$export"
	switch p.Level {
	case levelPatient:
		u = base + "/Patient/$export"
	case levelGroup:
		u = base + "/Group/" + p.Group + "/$export"
	}
	q := url.Values{}
	if len(p.Types) > 0 {
		q.Set("_type", strings.Join(p.Types, ","))
	}
	if p.Since > 0 {
		q.Set("_since", instant(time.UnixMilli(p.Since)))
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}
