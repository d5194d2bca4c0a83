package s3api

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fhirlake/fhirlake/internal/s3io"
)

func TestParseRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header                 string
		start, length          int64
		partial, unsatisfiable bool
	}{
		{"", 0, 100, false, false},
		{"bytes=0-9", 0, 10, true, false},
		{"bytes=90-", 90, 10, true, false},
		{"bytes=90-1000", 90, 10, true, false},
		{"bytes=-5", 95, 5, true, false},
		{"bytes=-500", 0, 100, true, false},
		{"bytes=100-", 0, 0, false, true},
		{"bytes=-0", 0, 0, false, true},
		{"bytes=5-2", 0, 100, false, false},     // invalid: whole object
		{"bytes=0-1,5-6", 0, 100, false, false}, // several ranges: whole object
		{"items=0-1", 0, 100, false, false},
	} {
		start, length, partial, err := parseRange(tc.header, 100)
		if tc.unsatisfiable {
			if !errors.Is(err, errInvalidRange) {
				t.Errorf("%q: err %v, want InvalidRange", tc.header, err)
			}
			continue
		}
		if err != nil || start != tc.start || length != tc.length || partial != tc.partial {
			t.Errorf("%q = %d,%d,%v,%v; want %d,%d,%v", tc.header, start, length, partial, err, tc.start, tc.length, tc.partial)
		}
	}
}

func TestAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ host, target, bucket, key string }{
		{"127.0.0.1:4599", "/", "", ""},
		{"127.0.0.1:4599", "/bkt", "bkt", ""},
		{"127.0.0.1:4599", "/bkt/", "bkt", ""},
		{"127.0.0.1:4599", "/bkt/a/b%20c", "bkt", "a/b c"},
		{"bkt.localhost:4599", "/a/b", "bkt", "a/b"},
		{"my.dotted.bkt.localhost", "/", "my.dotted.bkt", ""},
		{"localhost:4599", "/bkt/k", "bkt", "k"},
		{"[::1]:4599", "/bkt/k", "bkt", "k"},
	} {
		r := httptest.NewRequest("GET", tc.target, nil)
		r.Host = tc.host
		if b, k := address(r); b != tc.bucket || k != tc.key {
			t.Errorf("%s%s = %q %q, want %q %q", tc.host, tc.target, b, k, tc.bucket, tc.key)
		}
	}
}

// TestStorageFaults checks that faults of the folder answer as S3 does for conditions that can
// clear, and never with internal text.
func TestStorageFaults(t *testing.T) {
	t.Parallel()
	h := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("put a/b: %w: no space left on device", s3io.ErrNoSpace), http.StatusServiceUnavailable, "ServiceUnavailable"},
		{fmt.Errorf("put a/b: %w", s3io.ErrAccessDenied), http.StatusForbidden, "AccessDenied"},
		{fmt.Errorf("put a/b: %w: read-only file system", s3io.ErrPermissionDenied), http.StatusInternalServerError, "InternalError"},
	} {
		w := httptest.NewRecorder()
		h.WriteError(w, httptest.NewRequest(http.MethodPut, "/a/b", nil), tc.err)
		body := w.Body.String()
		if w.Code != tc.status || !strings.Contains(body, "<Code>"+tc.code+"</Code>") {
			t.Errorf("%v: %d %s, want %d %s", tc.err, w.Code, body, tc.status, tc.code)
		}
		if strings.Contains(body, "device") || strings.Contains(body, "file system") {
			t.Errorf("%v: internal text leaked: %s", tc.err, body)
		}
	}
}
