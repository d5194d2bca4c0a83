package controlplane

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/fhirlake/fhirlake/internal/awsjson"
	"github.com/fhirlake/fhirlake/internal/awsmodel"
	"github.com/fhirlake/fhirlake/internal/sigv4"
	"github.com/fhirlake/fhirlake/internal/store"
)

// apiError is a control-plane error whose wire form is decided where it is raised.
type apiError struct {
	status int
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func validationErr(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "ValidationException", fmt.Sprintf(format, args...)}
}

func notFoundErr(format string, args ...any) error {
	return &apiError{http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf(format, args...)}
}

func conflictErr(format string, args ...any) error {
	return &apiError{http.StatusConflict, "ConflictException", fmt.Sprintf(format, args...)}
}

func accessDeniedErr(format string, args ...any) error {
	return &apiError{http.StatusForbidden, "AccessDeniedException", fmt.Sprintf(format, args...)}
}

var errUnauthenticated = &apiError{http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token"}

// translate is the single place where any error becomes an AWS exception. Internal error text is
// logged, never returned.
func (s *Service) translate(err error) *awsjson.Error {
	var (
		api  *apiError
		ve   *awsmodel.ValidationError
		se   *awsmodel.SerializationError
		sv   *sigv4.Error
		wire *awsjson.Error
	)
	switch {
	case errors.As(err, &wire):
		return wire
	case errors.As(err, &api):
		return &awsjson.Error{Status: api.status, Type: api.typ, Message: api.msg}
	case errors.As(err, &ve):
		return &awsjson.Error{Status: http.StatusBadRequest, Type: "ValidationException", Message: ve.Message}
	case errors.As(err, &se):
		return &awsjson.Error{Status: http.StatusBadRequest, Type: "SerializationException", Message: se.Message}
	case errors.As(err, &sv):
		switch sv.Kind {
		case sigv4.MissingAuth:
			return &awsjson.Error{Status: http.StatusForbidden, Type: "MissingAuthenticationTokenException", Message: sv.Msg}
		case sigv4.UnknownKey, sigv4.InvalidToken:
			return &awsjson.Error{Status: http.StatusForbidden, Type: "UnrecognizedClientException", Message: sv.Msg}
		case sigv4.BadSignature, sigv4.Expired:
			return &awsjson.Error{Status: http.StatusForbidden, Type: "InvalidSignatureException", Message: sv.Msg}
		case sigv4.BodyTooLarge:
			return &awsjson.Error{Status: http.StatusRequestEntityTooLarge, Type: "ValidationException", Message: sv.Msg}
		case sigv4.IncompleteSignature:
			return &awsjson.Error{Status: http.StatusBadRequest, Type: "IncompleteSignatureException", Message: sv.Msg}
		case sigv4.Throttled:
			return &awsjson.Error{Status: http.StatusTooManyRequests, Type: "ThrottlingException", Message: sv.Msg}
		case sigv4.BodyTimeout:
			return &awsjson.Error{Status: http.StatusRequestTimeout, Type: "RequestTimeoutException", Message: sv.Msg}
		}
	case errors.Is(err, store.ErrNotFound):
		return &awsjson.Error{Status: http.StatusNotFound, Type: "ResourceNotFoundException", Message: "the requested resource does not exist"}
	case errors.Is(err, store.ErrConflict):
		return &awsjson.Error{Status: http.StatusConflict, Type: "ConflictException", Message: "the resource is in a state that does not allow this change"}
	}
	s.opt.Logger.Error("internal error", "err", err)
	return &awsjson.Error{Status: http.StatusInternalServerError, Type: "InternalServerException", Message: "an internal error occurred; retry the request"}
}
