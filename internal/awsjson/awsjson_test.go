package awsjson

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestTimeJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want time.Time
	}{
		{`1700000000`, time.Unix(1700000000, 0)},
		{`1700000000.123`, time.UnixMilli(1700000000123)},
		{`"2024-10-13T19:00:00Z"`, time.Date(2024, 10, 13, 19, 0, 0, 0, time.UTC)},
		{`"2024-10-13"`, time.Date(2024, 10, 13, 0, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		var got Time
		if err := json.Unmarshal([]byte(tc.in), &got); err != nil || !got.Equal(tc.want) {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", tc.in, got.Time, err, tc.want)
		}
	}
	for _, bad := range []string{`"yesterday"`, `true`, `{}`} {
		var got Time
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
	out, _ := json.Marshal(struct{ T Time }{Time{time.UnixMilli(1606272542161)}})
	if string(out) != `{"T":1606272542.161}` {
		t.Errorf("Marshal = %s", out)
	}
	if NewTime(time.Time{}) != nil {
		t.Error("NewTime(zero) is not nil")
	}
}

func TestRouter(t *testing.T) {
	t.Parallel()
	rt := NewRouter("HealthLake", func(err error) *Error {
		return &Error{Status: 400, Type: "ValidationException", Message: err.Error()}
	})
	rt.Handle("Echo", func(_ context.Context, body []byte) (any, error) {
		if strings.Contains(string(body), "fail") {
			return nil, errors.New("bad input")
		}
		return map[string]string{"Got": string(body)}, nil
	})
	call := func(method, target, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/any/prefix/", strings.NewReader(body))
		r.Header.Set("X-Amz-Target", target)
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, r)
		return w
	}
	cases := []struct {
		method, target, body string
		status               int
		typ                  string
	}{
		{"POST", "HealthLake.Echo", `{}`, 200, ""},
		{"POST", "HealthLake.Echo", `{"x":"fail"}`, 400, "ValidationException"},
		{"POST", "HealthLake.Nope", `{}`, 400, "UnknownOperationException"},
		{"POST", "Other.Echo", `{}`, 400, "UnknownOperationException"},
		{"GET", "HealthLake.Echo", ``, 400, "UnknownOperationException"},
		{"POST", "HealthLake.Echo", `[]`, 400, "SerializationException"},
		{"POST", "HealthLake.Echo", `{"a":`, 400, "SerializationException"},
		{"POST", "HealthLake.Echo", ``, 400, "SerializationException"},
	}
	for _, tc := range cases {
		w := call(tc.method, tc.target, tc.body)
		if w.Code != tc.status || w.Header().Get("X-Amzn-ErrorType") != tc.typ || w.Header().Get("Content-Type") != ContentType {
			t.Errorf("%s %s %q = %d %q", tc.method, tc.target, tc.body, w.Code, w.Header().Get("X-Amzn-ErrorType"))
		}
		if tc.typ != "" {
			var body struct {
				Type    string `json:"__type"`
				Message string
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Type != tc.typ || body.Message == "" {
				t.Errorf("error body %s", w.Body)
			}
		}
	}
	if got := rt.Operation(httptest.NewRequest(http.MethodPost, "/", nil)); got != "" {
		t.Errorf("Operation without target = %q", got)
	}
	if id := NewRequestID(); len(id) != 36 || id[14] != '4' {
		t.Errorf("request id %q is not a UUIDv4", id)
	}
}
