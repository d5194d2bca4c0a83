package controlplane

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/fhirlake/fhirlake/internal/awsmodel"
	"github.com/fhirlake/fhirlake/internal/sigv4"
	"github.com/fhirlake/fhirlake/internal/store"
)

// TestTranslate checks the one error translation of the control plane: every error kind maps to its
// AWS exception and status, and internal error text is logged but never returned.
func TestTranslate(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	s := &Service{opt: Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}}
	secret := errors.New("disk I/O error at /var/lib/fhirlake.db page 42")
	cases := []struct {
		err    error
		status int
		typ    string
	}{
		{validationErr("bad %s", "x"), 400, "ValidationException"},
		{&awsmodel.ValidationError{Message: "1 validation error detected"}, 400, "ValidationException"},
		{&awsmodel.SerializationError{Message: "not JSON"}, 400, "SerializationException"},
		{notFoundErr("nope"), 404, "ResourceNotFoundException"},
		{fmt.Errorf("wrapped: %w", store.ErrNotFound), 404, "ResourceNotFoundException"},
		{conflictErr("busy"), 409, "ConflictException"},
		{fmt.Errorf("wrapped: %w", store.ErrConflict), 409, "ConflictException"},
		{&sigv4.Error{Kind: sigv4.MissingAuth, Msg: "m"}, 403, "MissingAuthenticationTokenException"},
		{&sigv4.Error{Kind: sigv4.UnknownKey, Msg: "m"}, 403, "UnrecognizedClientException"},
		{&sigv4.Error{Kind: sigv4.BadSignature, Msg: "m"}, 403, "InvalidSignatureException"},
		{&sigv4.Error{Kind: sigv4.Expired, Msg: "m"}, 403, "InvalidSignatureException"},
		{&sigv4.Error{Kind: sigv4.BodyTooLarge, Msg: "m"}, http.StatusRequestEntityTooLarge, "ValidationException"},
		{&sigv4.Error{Kind: sigv4.IncompleteSignature, Msg: "m"}, 400, "IncompleteSignatureException"},
		{&sigv4.Error{Kind: sigv4.Throttled, Msg: "m"}, http.StatusTooManyRequests, "ThrottlingException"},
		{&sigv4.Error{Kind: sigv4.BodyTimeout, Msg: "m"}, http.StatusRequestTimeout, "RequestTimeoutException"},
		{errUnauthenticated, 403, "MissingAuthenticationTokenException"},
		{secret, 500, "InternalServerException"},
	}
	for _, tc := range cases {
		got := s.translate(tc.err)
		if got.Status != tc.status || got.Type != tc.typ {
			t.Errorf("translate(%v) = %d %s, want %d %s", tc.err, got.Status, got.Type, tc.status, tc.typ)
		}
	}
	internal := s.translate(secret)
	if strings.Contains(internal.Message, "disk") || strings.Contains(internal.Message, "/var") {
		t.Errorf("internal error text leaked: %q", internal.Message)
	}
	if !strings.Contains(logs.String(), "page 42") {
		t.Errorf("internal error not logged: %s", logs.String())
	}
}
