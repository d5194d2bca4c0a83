package fhirapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/fhirlake/fhirlake/internal/config"
)

// bombResource is a Patient whose first extension the PATCH bomb doubles.
const bombResource = `{"resourceType":"Patient","extension":[{"url":"http://example.org/a","extension":[` +
	`{"url":"http://example.org/b","valueString":"padding padding padding padding padding padding padding padding"}]}]}`

// bombPatch copies /extension/0 into itself n times: 1.1 KB of JSON Patch that doubles the
// resource at each operation.
func bombPatch(n int) []byte {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = `{"op":"copy","from":"/extension/0","path":"/extension/0/extension/-"}`
	}
	return []byte("[" + strings.Join(ops, ",") + "]")
}

// TestPatchBomb sends the PATCH bomb to a service whose body bound is 256 KiB: it must be
// refused with 422 too-costly as soon as the resource passes the bound, leave the stored
// resource as it was, and allocate a bounded amount of memory on the way (on a service without
// the bound it answered 200 with a 65 MB resource after allocating 1.6 GB).
func TestPatchBomb(t *testing.T) {
	const limit = 256 << 10
	e := newEnvWith(t, func(c *config.Config) { c.MaxBodyBytes = limit; c.BodyBudgetBytes = 4 * limit })
	r := e.do("POST", "Patient", []byte(bombResource))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r = e.do("PATCH", "Patient/"+id, bombPatch(16), "Content-Type", "application/json-patch+json")
	runtime.ReadMemStats(&after)
	if r.status != http.StatusUnprocessableEntity || issueCode(t, r) != "too-costly" {
		t.Fatalf("bomb: %d %.300s, want 422 too-costly", r.status, r.body)
	}
	// Everything the process allocated while the bomb ran (client and server): a few copies of
	// a resource at the bound (1.7 times the bound when measured).
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("the bomb allocated %d bytes (%.1f times the bound)", alloc, float64(alloc)/limit)
	if alloc > 16*limit {
		t.Errorf("the bomb allocated %d bytes, want at most %d (16 times the bound)", alloc, 16*limit)
	}
	if got := e.do("GET", "Patient/"+id, nil); got.status != 200 || got.header.Get("ETag") != `W/"1"` {
		t.Errorf("after the bomb: %d %s, want version 1 unchanged", got.status, got.header.Get("ETag"))
	}
	if r := e.do("PATCH", "Patient/"+id, bombPatch(4), "Content-Type", "application/json-patch+json"); r.status != 200 {
		t.Errorf("four doublings (within the bound): %d %.200s", r.status, r.body)
	}
	// Patches that each add less than the bound are bounded the same way once the resource
	// would pass it.
	add := []byte(`[{"op":"add","path":"/extension/-","value":{"url":"http://example.org/c","valueString":"` + strings.Repeat("y", limit*6/10) + `"}}]`)
	if r := e.do("PATCH", "Patient/"+id, add, "Content-Type", "application/json-patch+json"); r.status != 200 {
		t.Errorf("patch within the bound: %d %.200s", r.status, r.body)
	}
	if r := e.do("PATCH", "Patient/"+id, add, "Content-Type", "application/json-patch+json"); r.status != 422 || issueCode(t, r) != "too-costly" {
		t.Errorf("patch past the bound: %d %.200s, want 422 too-costly", r.status, r.body)
	}
}

// TestBodyBound checks that a body over the bound is refused with 413 too-costly, with a
// Content-Length (before it is read) and without one.
func TestBodyBound(t *testing.T) {
	const limit = 64 << 10
	e := newEnvWith(t, func(c *config.Config) { c.MaxBodyBytes = limit; c.BodyBudgetBytes = 4 * limit })
	body := `{"resourceType":"Patient","id":"p","extension":[{"url":"http://example.org/x","valueString":"` + strings.Repeat("x", limit) + `"}]}`
	if r := e.do("PUT", "Patient/p", []byte(body)); r.status != http.StatusRequestEntityTooLarge || issueCode(t, r) != "too-long" {
		t.Errorf("with Content-Length: %d %.200s, want 413 too-costly", r.status, r.body)
	}
	req, err := http.NewRequest("PUT", e.url+"/datastore/"+e.ds+"/r4/Patient/p", io.MultiReader(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: e.key, SecretAccessKey: e.secret},
		req, hex.EncodeToString(sum[:]), "healthlake", region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req) // a reader of unknown length: sent chunked
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(b, []byte(`"too-long"`)) || req.ContentLength != 0 {
		t.Errorf("chunked (length %d): %d %.200s, want 413 too-costly", req.ContentLength, resp.StatusCode, b)
	}
}
