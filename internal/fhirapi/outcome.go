package fhirapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/fhirlake/fhirlake/internal/awsmodel"
	"github.com/fhirlake/fhirlake/internal/exporter"
	"github.com/fhirlake/fhirlake/internal/fhir"
	"github.com/fhirlake/fhirlake/internal/search"
	"github.com/fhirlake/fhirlake/internal/sigv4"
	"github.com/fhirlake/fhirlake/internal/store"
)

// apiError is a data-plane error whose status and issues are decided where it is raised.
type apiError struct {
	status int
	issues []fhir.Issue
}

func (e *apiError) Error() string {
	if len(e.issues) == 0 {
		return http.StatusText(e.status)
	}
	return e.issues[0].Code + ": " + e.issues[0].Diagnostics
}

// fail returns an apiError with one error issue.
func fail(status int, code, format string, args ...any) error {
	return &apiError{status: status, issues: []fhir.Issue{{Severity: fhir.SeverityError, Code: code, Diagnostics: fmt.Sprintf(format, args...)}}}
}

func invalid(format string, args ...any) error {
	return fail(http.StatusBadRequest, "invalid", format, args...)
}

// methodNotAllowed refuses an HTTP method on a path (405).
func methodNotAllowed(format string, args ...any) error {
	return fail(http.StatusMethodNotAllowed, "not-supported", format, args...)
}

// unsupportedMediaType refuses a request body's media type (415).
func unsupportedMediaType(format string, args ...any) error {
	return fail(http.StatusUnsupportedMediaType, "not-supported", format, args...)
}

// notImplemented refuses an operation this server does not have (501).
func notImplemented(format string, args ...any) error {
	return fail(http.StatusNotImplemented, "not-supported", format, args...)
}

// preconditionFailed refuses a conditional request whose criteria select the wrong number of
// resources (412).
func preconditionFailed(code, format string, args ...any) error {
	return fail(http.StatusPreconditionFailed, code, format, args...)
}

// outcome is the single translation of any error into an HTTP status and an OperationOutcome.
// Text of unexpected errors is logged, never returned.
func (h *Handler) outcome(err error) (int, []byte) {
	var (
		api *apiError
		se  *search.Error
		sv  *sigv4.Error

		inactive *store.NotActiveError
		model    *awsmodel.ValidationError
		denied   *exporter.BucketError
	)
	status, code, msg := 0, "", ""
	switch {
	case errors.As(err, &api):
		return api.status, fhir.MarshalOperationOutcome(api.issues)
	case errors.As(err, &se):
		status, code, msg = http.StatusBadRequest, "invalid", se.Error()
		if se.Unsupported {
			code = "not-supported"
		}
	case errors.As(err, &model):
		status, code, msg = http.StatusBadRequest, "invalid", model.Message
	case errors.As(err, &denied):
		status, code, msg = http.StatusForbidden, "forbidden", "Access denied to "+denied.URI+": the bucket "+denied.Bucket+" belongs to another account"
	case errors.Is(err, exporter.ErrTokenReused):
		status, code, msg = http.StatusBadRequest, "invalid", "the client token was already used with different parameters"
	case errors.As(err, &sv):
		// The statuses of the control plane: 403 for a missing or refused signature, 400 for an
		// incomplete one.
		switch sv.Kind {
		case sigv4.MissingAuth:
			status, code = http.StatusForbidden, "login"
		case sigv4.IncompleteSignature:
			status, code = http.StatusBadRequest, "security"
		case sigv4.BodyTooLarge:
			status, code = http.StatusRequestEntityTooLarge, "too-costly"
		case sigv4.Throttled:
			status, code = http.StatusTooManyRequests, "throttled"
		case sigv4.BodyTimeout:
			status, code = http.StatusRequestTimeout, "timeout"
		default:
			status, code = http.StatusForbidden, "security"
		}
		msg = sv.Msg
	case errors.As(err, &inactive) && inactive.Status == store.DatastoreDeleted:
		status, code, msg = http.StatusNotFound, "not-found", fmt.Sprintf("data store %s does not exist", inactive.ID)
	case errors.As(err, &inactive):
		// The store left ACTIVE between the request's check and its write.
		status, code, msg = http.StatusConflict, "processing", fmt.Sprintf("data store %s is %s, not ACTIVE", inactive.ID, inactive.Status)
	case errors.Is(err, store.ErrNotFound):
		status, code, msg = http.StatusNotFound, "not-found", "the resource or data store does not exist"
	case errors.Is(err, store.ErrVersionMismatch):
		status, code, msg = http.StatusPreconditionFailed, "conflict", "the resource version does not match If-Match"
	case errors.Is(err, store.ErrConflict):
		status, code, msg = http.StatusConflict, "conflict", "the resource exists already"
	case errors.Is(err, store.ErrBadQuery):
		status, code, msg = http.StatusBadRequest, "invalid", "the search or its page link is not valid"
	default:
		h.log.Error("data plane internal error", "err", err)
		status, code, msg = http.StatusInternalServerError, "exception", "an internal error occurred; retry the request"
	}
	return status, fhir.MarshalOperationOutcome([]fhir.Issue{{Severity: fhir.SeverityError, Code: code, Diagnostics: msg}})
}

// WriteError writes err as an OperationOutcome; it is also the sigv4 middleware's error writer.
// A throttled request is told when to retry (Retry-After, in seconds).
func (h *Handler) WriteError(w http.ResponseWriter, _ *http.Request, err error) {
	status, body := h.outcome(err)
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(body)
}
