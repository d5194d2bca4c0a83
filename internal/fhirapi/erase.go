package fhirapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/jobs"
	"github.com/fhirlake/fhirlake/internal/store"
)

// $erase and $purge remove resources for good, as HealthLake documents them: the kick-off answers
// 202 with an OperationOutcome naming the job ("Erase job started successfully. Job ID: ...") and
// the status URL [base]/$erase/{jobId} or [base]/$purge/{jobId} in Content-Location; the status
// is a Parameters resource (jobId, jobStatus, totalResourcesDeleted, startTime, endTime). The
// jobs are delete jobs on the job engine (package eraser runs them).

func errDeleteDisabled() error {
	return notImplemented("$erase and $purge are not enabled on this server")
}

// boolParam reads an optional boolean query parameter.
func boolParam(q url.Values, name string) (bool, error) {
	switch q.Get(name) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, invalid("%s must be true or false", name)
}

// onlyParams refuses query parameters other than the ones an operation applies.
func onlyParams(q url.Values, op string, names ...string) error {
	for k := range q {
		if !contains(names, k) {
			return fail("not-supported", "the %s parameter %s is not supported", op, k)
		}
	}
	return nil
}

// erase starts the $erase of typ/id, or of its version vid when not "".
func (h *Handler) erase(c *call, typ, id, vid string) (*response, error) {
	if h.opt.Deletes == nil {
		return nil, errDeleteDisabled()
	}
	if _, err := resourceType(typ); err != nil {
		return nil, err
	}
	q := c.r.URL.Query()
	if err := onlyParams(q, "$erase", "deleteAuditEvent"); err != nil {
		return nil, err
	}
	audit, err := boolParam(q, "deleteAuditEvent")
	if err != nil {
		return nil, err
	}
	p := jobs.DeleteParams{Operation: "erase", Type: typ, ID: id, DeleteAuditEvent: audit}
	cur, err := h.st.ResourceGet(c.r.Context(), c.ds, typ, id)
	if err != nil {
		return nil, err
	}
	if vid != "" {
		v, err := strconv.ParseInt(vid, 10, 64)
		if err != nil || v <= 0 {
			return nil, fail("not-found", "version %q of %s/%s does not exist", vid, typ, id)
		}
		if v == cur.Version {
			return nil, fail("conflict", "%s/%s/_history/%d is the current version: erase the resource, or update it first", typ, id, v)
		}
		if _, err := h.st.ResourceVersion(c.r.Context(), c.ds, typ, id, v); err != nil {
			return nil, err
		}
		p.Version = v
	}
	return h.startDelete(c, p, "Erase", "$erase")
}

// purge starts the $purge of the compartment of Patient/id: resources last updated from _since,
// or from start to end (default: the job's submission), are removed.
func (h *Handler) purge(c *call, id string) (*response, error) {
	if h.opt.Deletes == nil {
		return nil, errDeleteDisabled()
	}
	q := c.r.URL.Query()
	if err := onlyParams(q, "$purge", "deleteAuditEvent", "_since", "start", "end"); err != nil {
		return nil, err
	}
	audit, err := boolParam(q, "deleteAuditEvent")
	if err != nil {
		return nil, err
	}
	if q.Has("_since") && (q.Has("start") || q.Has("end")) {
		return nil, invalid("_since cannot be combined with start or end")
	}
	p := jobs.DeleteParams{Operation: "purge", Type: "Patient", ID: id, DeleteAuditEvent: audit}
	bound := func(name string) (int64, error) {
		s := q.Get(name)
		if s == "" {
			return 0, nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, invalid("%s %q is not a FHIR instant such as 2024-01-31T12:00:00.000Z", name, s)
		}
		return t.UnixMilli(), nil
	}
	if p.Since, err = bound("_since"); err != nil {
		return nil, err
	}
	if p.Since == 0 {
		if p.Since, err = bound("start"); err != nil {
			return nil, err
		}
	}
	if p.Until, err = bound("end"); err != nil {
		return nil, err
	}
	if p.Until == 0 {
		p.Until = h.opt.Now().UnixMilli()
	}
	if p.Since > 0 && p.Until < p.Since {
		return nil, invalid("end is before start")
	}
	// The patient need not exist any more: a purge also removes what is left of the compartment
	// of a patient that was erased.
	if !validFHIRID(id) {
		return nil, fail("not-found", "%q is not a FHIR id", id)
	}
	return h.startDelete(c, p, "Purge", "$purge")
}

// startDelete records a delete job and answers the kick-off.
func (h *Handler) startDelete(c *call, p jobs.DeleteParams, what, op string) (*response, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	j, _, err := h.opt.Deletes.JobCreate(c.r.Context(), store.Job{Tenant: c.tenant, ID: newJobID(), Kind: store.JobDelete,
		DatastoreID: c.ds, SubmitTime: h.opt.Now(), Params: raw})
	if err != nil {
		return nil, err
	}
	if h.opt.Notify != nil {
		h.opt.Notify()
	}
	oo := fhir.MarshalOperationOutcome([]fhir.Issue{{Severity: "information", Code: "informational",
		Diagnostics: what + " job started successfully. Job ID: " + j.ID}})
	// HealthLake's kick-off OperationOutcome carries the id "erase-job" or "purge-job".
	body := append([]byte(`{"resourceType":"OperationOutcome","id":"`+p.Operation+`-job",`), oo[len(`{"resourceType":"OperationOutcome",`):]...)
	hd := http.Header{}
	hd.Set("Content-Location", c.base+"/"+op+"/"+j.ID)
	return &response{status: http.StatusAccepted, body: body, header: hd}, nil
}

// deleteJobStatus serves [base]/$erase/{jobId} and [base]/$purge/{jobId}.
func (h *Handler) deleteJobStatus(c *call, op, jobID string) (*response, error) {
	if h.opt.Deletes == nil {
		return nil, errDeleteDisabled()
	}
	j, err := h.opt.Deletes.JobGet(c.r.Context(), c.tenant, c.ds, store.JobDelete, jobID)
	var p jobs.DeleteParams
	if err == nil {
		if err = json.Unmarshal(j.Params, &p); err != nil {
			return nil, fmt.Errorf("delete job %s: read params: %w", j.ID, err)
		}
	}
	if errors.Is(err, store.ErrNotFound) || err == nil && "$"+p.Operation != op {
		return nil, fail("not-found", "%s job %s does not exist in this data store", op, jobID)
	}
	if err != nil {
		return nil, err
	}
	var prog jobs.DeleteProgress
	if len(j.Progress) > 0 {
		if err := json.Unmarshal(j.Progress, &prog); err != nil {
			return nil, fmt.Errorf("delete job %s: read progress: %w", j.ID, err)
		}
	}
	type param struct {
		Name         string `json:"name"`
		ValueString  string `json:"valueString,omitempty"`
		ValueInteger *int64 `json:"valueInteger,omitempty"`
		ValueInstant string `json:"valueInstant,omitempty"`
	}
	n := prog.Resources
	ps := []param{{Name: "jobId", ValueString: j.ID}, {Name: "jobStatus", ValueString: string(j.Status)},
		{Name: "totalResourcesDeleted", ValueInteger: &n}, {Name: "startTime", ValueInstant: instant(j.SubmitTime)}}
	if !j.EndTime.IsZero() {
		ps = append(ps, param{Name: "endTime", ValueInstant: instant(j.EndTime)})
	}
	if j.Message != "" {
		ps = append(ps, param{Name: "message", ValueString: j.Message})
	}
	body, err := marshalJSON(struct {
		ResourceType string  `json:"resourceType"`
		Parameter    []param `json:"parameter"`
	}{"Parameters", ps})
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, body: body}, nil
}
