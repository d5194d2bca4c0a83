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

// statusOf is the one table that decides the HTTP status of an error from the code of its
// (first) issue. Codes not in it are 500.
var statusOf = map[string]int{
	"invalid": http.StatusBadRequest, "structure": http.StatusBadRequest, "required": http.StatusBadRequest,
	"value": http.StatusBadRequest, "invariant": http.StatusBadRequest, "code-invalid": http.StatusBadRequest,
	"extension": http.StatusBadRequest, "not-supported": http.StatusBadRequest,
	// A missing signature is 403, as AWS answers it (MissingAuthenticationToken).
	"login": http.StatusForbidden, "security": http.StatusForbidden, "forbidden": http.StatusForbidden,
	"not-found": http.StatusNotFound, "deleted": http.StatusGone,
	"timeout":  http.StatusRequestTimeout,
	"conflict": http.StatusConflict, "duplicate": http.StatusConflict,
	"multiple-matches": http.StatusPreconditionFailed,
	"too-long":         http.StatusRequestEntityTooLarge,
	"processing":       http.StatusUnprocessableEntity, "business-rule": http.StatusUnprocessableEntity,
	"too-costly": http.StatusUnprocessableEntity,
	"throttled":  http.StatusTooManyRequests,
	"exception":  http.StatusInternalServerError,
	"transient":  http.StatusServiceUnavailable,
}

// apiError is a data-plane error: its issues, and through them its status.
type apiError struct {
	issues []fhir.Issue
	// httpStatus, when not 0, is the status of a condition of HTTP itself rather than of the
	// issue: a method the path does not take (405), a media type (415), an operation the server
	// does not have (501), a conditional request whose criteria select the wrong resources (412).
	httpStatus int
}

func (e *apiError) Error() string {
	if len(e.issues) == 0 {
		return http.StatusText(e.statusCode())
	}
	return e.issues[0].Code + ": " + e.issues[0].Diagnostics
}

// statusCode is the HTTP status of the error.
func (e *apiError) statusCode() int {
	if e.httpStatus != 0 {
		return e.httpStatus
	}
	for _, is := range e.issues {
		if is.Severity == fhir.SeverityError || is.Severity == "fatal" {
			return codeStatus(is.Code)
		}
	}
	return http.StatusBadRequest
}

// codeStatus reads statusOf.
func codeStatus(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// fail returns an apiError with one error issue.
func fail(code, format string, args ...any) error {
	return &apiError{issues: []fhir.Issue{{Severity: fhir.SeverityError, Code: code, Diagnostics: fmt.Sprintf(format, args...)}}}
}

func invalid(format string, args ...any) error {
	return fail("invalid", format, args...)
}

// httpFail is fail for the conditions of HTTP that decide the status themselves.
func httpFail(status int, code, format string, args ...any) error {
	e := fail(code, format, args...).(*apiError)
	e.httpStatus = status
	return e
}

// methodNotAllowed refuses an HTTP method on a path (405).
func methodNotAllowed(format string, args ...any) error {
	return httpFail(http.StatusMethodNotAllowed, "not-supported", format, args...)
}

// unsupportedMediaType refuses a request body's media type (415).
func unsupportedMediaType(format string, args ...any) error {
	return httpFail(http.StatusUnsupportedMediaType, "not-supported", format, args...)
}

// notImplemented refuses an operation this server does not have (501).
func notImplemented(format string, args ...any) error {
	return httpFail(http.StatusNotImplemented, "not-supported", format, args...)
}

// preconditionFailed refuses a conditional request whose criteria select the wrong resources, or
// a version that does not match If-Match (412).
func preconditionFailed(code, format string, args ...any) error {
	return httpFail(http.StatusPreconditionFailed, code, format, args...)
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
	code, msg := "", ""
	switch {
	case errors.As(err, &api):
		return api.statusCode(), fhir.MarshalOperationOutcome(api.issues)
	case errors.As(err, &se):
		code, msg = "invalid", se.Error()
		if se.Unsupported {
			code = "not-supported"
		}
	case errors.As(err, &model):
		code, msg = "invalid", model.Message
	case errors.As(err, &denied):
		code, msg = "forbidden", "Access denied to "+denied.URI+": the bucket "+denied.Bucket+" belongs to another account"
	case errors.Is(err, exporter.ErrTokenReused):
		code, msg = "invalid", "the client token was already used with different parameters"
	case errors.As(err, &sv):
		// As the control plane: 403 for a missing or refused signature, 400 for an incomplete one.
		switch sv.Kind {
		case sigv4.MissingAuth:
			code = "login"
		case sigv4.IncompleteSignature:
			// A security issue that AWS answers 400 (IncompleteSignatureException), not 403.
			return http.StatusBadRequest, fhir.MarshalOperationOutcome([]fhir.Issue{{Severity: fhir.SeverityError, Code: "security", Diagnostics: sv.Msg}})
		case sigv4.BodyTooLarge:
			code = "too-long"
		case sigv4.Throttled:
			code = "throttled"
		case sigv4.BodyTimeout:
			code = "timeout"
		default:
			code = "security"
		}
		msg = sv.Msg
	case errors.As(err, &inactive) && inactive.Status == store.DatastoreDeleted:
		code, msg = "not-found", fmt.Sprintf("data store %s does not exist", inactive.ID)
	case errors.As(err, &inactive):
		// The store left ACTIVE between the request's check and its write.
		code, msg = "conflict", fmt.Sprintf("data store %s is %s, not ACTIVE", inactive.ID, inactive.Status)
	case errors.Is(err, store.ErrNotFound):
		code, msg = "not-found", "the resource or data store does not exist"
	case errors.Is(err, store.ErrVersionMismatch):
		return h.outcome(preconditionFailed("conflict", "the resource version does not match If-Match"))
	case errors.Is(err, store.ErrConflict):
		code, msg = "conflict", "the resource exists already, or is in a state that does not allow the change"
	case errors.Is(err, store.ErrBadQuery):
		code, msg = "invalid", "the search or its page link is not valid"
	default:
		h.log.Error("data plane internal error", "err", err)
		code, msg = "exception", "an internal error occurred; retry the request"
	}
	return codeStatus(code), fhir.MarshalOperationOutcome([]fhir.Issue{{Severity: fhir.SeverityError, Code: code, Diagnostics: msg}})
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
