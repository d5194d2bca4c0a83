// Package awsjson is the AWS JSON 1.0 protocol mechanics of the control plane: the X-Amz-Target
// operation table, body reading, success and error encoding, and epoch-second timestamps.
//
// It knows nothing about HealthLake's operations or domain errors: a service registers its
// operations and gives one function that turns any error into an *Error (the only translation point).
package awsjson

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ContentType is the media type of every request and response body.
const ContentType = "application/x-amz-json-1.0"

// Error is a protocol error as it goes on the wire: HTTP status, x-amzn-ErrorType / __type, Message.
type Error struct {
	Status  int
	Type    string
	Message string
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Operation handles one operation: body is the raw request JSON object; the result is encoded as
// the response object.
type Operation func(ctx context.Context, body []byte) (any, error)

// Router dispatches POST requests by X-Amz-Target.
type Router struct {
	prefix    string
	ops       map[string]Operation
	translate func(error) *Error
	maxBody   int64
}

// MaxBody is the largest request body a Router reads: 8 MiB, far above any HealthLake
// operation's input.
const MaxBody = 8 << 20

// NewRouter returns a router for targets "<prefix>.<Operation>". translate maps every error an
// operation returns to its wire form; it must never put internal error text in the message.
func NewRouter(prefix string, translate func(error) *Error) *Router {
	return &Router{prefix: prefix, ops: map[string]Operation{}, translate: translate, maxBody: MaxBody}
}

// Handle registers an operation by name.
func (rt *Router) Handle(name string, op Operation) { rt.ops[name] = op }

// Operation returns the operation name of a request's X-Amz-Target, or "" when it names none.
func (rt *Router) Operation(r *http.Request) string {
	name, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), rt.prefix+".")
	if !ok {
		return ""
	}
	if _, known := rt.ops[name]; !known {
		return ""
	}
	return name
}

// ServeHTTP implements http.Handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		WriteError(w, &Error{Status: http.StatusBadRequest, Type: "UnknownOperationException",
			Message: "operations are called with POST"})
		return
	}
	name := rt.Operation(r)
	if name == "" {
		WriteError(w, &Error{Status: http.StatusBadRequest, Type: "UnknownOperationException",
			Message: fmt.Sprintf("unknown operation %q", truncate(r.Header.Get("X-Amz-Target"), 128))})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, rt.maxBody+1))
	if err != nil {
		WriteError(w, &Error{Status: http.StatusBadRequest, Type: "SerializationException", Message: "cannot read request body"})
		return
	}
	if int64(len(body)) > rt.maxBody {
		WriteError(w, &Error{Status: http.StatusRequestEntityTooLarge, Type: "SerializationException", Message: "request body too large"})
		return
	}
	if !isObject(body) {
		WriteError(w, &Error{Status: http.StatusBadRequest, Type: "SerializationException",
			Message: "request body must be a JSON object"})
		return
	}
	out, err := rt.ops[name](r.Context(), body)
	if err != nil {
		WriteError(w, rt.translate(err))
		return
	}
	WriteJSON(w, http.StatusOK, out)
}

// isObject reports whether body is one well-formed JSON object.
func isObject(body []byte) bool {
	t := bytes.TrimSpace(body)
	return len(t) >= 2 && t[0] == '{' && json.Valid(t)
}

// WriteJSON writes a success response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, &Error{Status: http.StatusInternalServerError, Type: "InternalServerException", Message: "internal error"})
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// WriteError writes an error response with both the x-amzn-ErrorType header and the __type member,
// which is what the Go SDK and botocore respectively read.
func WriteError(w http.ResponseWriter, e *Error) {
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"Message"`
	}{e.Type, e.Message})
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Amzn-ErrorType", e.Type)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.Status)
	w.Write(b)
}

// NewRequestID returns a random UUIDv4 string for x-amzn-RequestId.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Time is a timestamp that travels as epoch seconds. It encodes as a JSON number with millisecond
// precision and decodes from an integer or fractional number, or an ISO-8601 string.
type Time struct{ time.Time }

// NewTime wraps t (nil-safe helper for optional members).
func NewTime(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	return &Time{t}
}

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
			if v, err := time.Parse(layout, s); err == nil {
				t.Time = v.UTC()
				return nil
			}
		}
		return fmt.Errorf("timestamp %q is not ISO-8601", s)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("timestamp %s is not a number", b)
	}
	sec, frac := math.Modf(f)
	t.Time = time.Unix(int64(sec), int64(math.Round(frac*1000))*int64(time.Millisecond)).UTC()
	return nil
}
