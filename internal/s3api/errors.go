package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"os"

	"github.com/fhirlake/fhirlake/internal/s3io"
	"github.com/fhirlake/fhirlake/internal/sigv4"
)

// apiError is an S3 error whose wire form is decided where it is raised.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errNotImplemented(msg string) error {
	return &apiError{http.StatusNotImplemented, "NotImplemented", msg}
}

func invalidArgument(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidArgument", msg}
}

func malformedXML() error {
	return &apiError{http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema."}
}

var (
	errMethodNotAllowed = &apiError{http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource."}
	errEntityTooLarge   = &apiError{http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size."}
	errInvalidRange     = &apiError{http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable"}
)

// errorBody is S3's XML error document.
type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId,omitempty"`
}

// translate is the single place where an error becomes an S3 error. Internal error text is
// logged, never returned.
func (h *Handler) translate(err error) *apiError {
	var (
		api *apiError
		sv  *sigv4.Error
		pe  *sigv4.PayloadError
	)
	switch {
	case errors.As(err, &api):
		return api
	case errors.As(err, &pe):
		switch pe.Reason {
		case sigv4.PayloadHashMismatch:
			return &apiError{http.StatusBadRequest, "XAmzContentSHA256Mismatch", pe.Msg}
		case sigv4.ChecksumMismatch:
			return &apiError{http.StatusBadRequest, "BadDigest", pe.Msg}
		case sigv4.LengthMismatch:
			return &apiError{http.StatusBadRequest, "IncompleteBody", pe.Msg}
		}
		return &apiError{http.StatusBadRequest, "InvalidRequest", pe.Msg}
	case errors.As(err, &sv):
		switch sv.Kind {
		case sigv4.MissingAuth:
			return &apiError{http.StatusForbidden, "AccessDenied", "Access Denied"}
		case sigv4.InvalidToken:
			return &apiError{http.StatusBadRequest, "InvalidToken", sv.Msg}
		case sigv4.UnknownKey:
			return &apiError{http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."}
		case sigv4.Expired:
			return &apiError{http.StatusForbidden, "RequestTimeTooSkewed", sv.Msg}
		case sigv4.BodyTooLarge:
			return errEntityTooLarge
		case sigv4.IncompleteSignature:
			return &apiError{http.StatusBadRequest, "AuthorizationHeaderMalformed", sv.Msg}
		}
		return &apiError{http.StatusForbidden, "SignatureDoesNotMatch", sv.Msg}
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The server's minimum body rate cut a slow upload.
		return &apiError{http.StatusBadRequest, "RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period."}
	case errors.Is(err, s3io.ErrAccessDenied):
		return &apiError{http.StatusForbidden, "AccessDenied", "Access Denied"}
	case errors.Is(err, s3io.ErrNoSuchBucket):
		return &apiError{http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist"}
	case errors.Is(err, s3io.ErrNotFound):
		return &apiError{http.StatusNotFound, "NoSuchKey", "The specified key does not exist."}
	case errors.Is(err, s3io.ErrInvalidBucket):
		return &apiError{http.StatusBadRequest, "InvalidBucketName", "The specified bucket is not valid."}
	case errors.Is(err, s3io.ErrInvalidKey):
		return invalidArgument("The object key is not supported: keys are 1 to 1024 bytes of non-empty path segments, without '.', '..', a backslash, NUL or a segment starting with .s3io-")
	case errors.Is(err, s3io.ErrKeyConflict):
		return invalidArgument("The object key conflicts with an existing object: the embedded store cannot hold both \"a\" and \"a/b\"")
	case errors.Is(err, s3io.ErrBucketExists):
		return &apiError{http.StatusConflict, "BucketAlreadyExists", "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."}
	case errors.Is(err, s3io.ErrBucketOwned):
		return &apiError{http.StatusConflict, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it."}
	case errors.Is(err, s3io.ErrBucketNotEmpty):
		return &apiError{http.StatusConflict, "BucketNotEmpty", "The bucket you tried to delete is not empty"}
	case errors.Is(err, s3io.ErrNoSuchUpload):
		return &apiError{http.StatusNotFound, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."}
	case errors.Is(err, s3io.ErrInvalidPart):
		return &apiError{http.StatusBadRequest, "InvalidPart", "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."}
	case errors.Is(err, s3io.ErrNoSpace):
		// The folder's disk is full: a condition that can clear, so clients retry (S3 answers 503 for
		// "try again later" conditions, and every SDK retries 503).
		h.cfg.Logger.Error("object storage out of space", "err", err)
		return &apiError{http.StatusServiceUnavailable, "ServiceUnavailable", "The server is out of disk space. Please try again later."}
	case errors.Is(err, s3io.ErrPartTooSmall):
		return &apiError{http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size."}
	}
	h.cfg.Logger.Error("internal error", "err", err)
	return &apiError{http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."}
}

// WriteError writes err as an S3 error response (status only for HEAD). A request whose client
// went away gets nothing.
func (h *Handler) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return
	}
	e := h.translate(err)
	if id := w.Header().Get("X-Amzn-RequestId"); id != "" {
		w.Header().Set("X-Amz-Request-Id", id)
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(e.status)
		return
	}
	body := errorBody{Code: e.code, Message: e.msg, Resource: r.URL.Path, RequestID: w.Header().Get("X-Amz-Request-Id")}
	writeXML(w, e.status, body)
}

// writeXML writes v as an XML document with status.
func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(b)
}
