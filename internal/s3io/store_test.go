package s3io

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// largeSize is big enough to need three parts at the default 8 MiB part
// size, the last one short.
const largeSize = 20 << 20

// testStore is the conformance suite every Store must pass. mkBucket creates
// an empty bucket; each subtest uses its own bucket so they can run in
// parallel.
func testStore(t *testing.T, s Store, mkBucket func(t *testing.T, name string)) {
	t.Run("list", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		mkBucket(t, "list")
		// '-' < '.' < '/', so a folder walk in name order would put "a/..."
		// before "a-b" and "a.txt"; key order must not.
		sizes := map[string]int{"a/c/e": 5, "ab": 0, "a-b": 1, "a/b": 2, "a.txt": 3, "a/c/d": 4, "b/x": 6}
		for k, n := range sizes {
			mustPut(t, s, "list", k, strings.Repeat("x", n))
		}
		tests := []struct {
			name   string
			prefix string
			want   []Object
		}{
			{"all", "", []Object{{Key: "a-b", Size: 1}, {Key: "a.txt", Size: 3}, {Key: "a/b", Size: 2}, {Key: "a/c/d", Size: 4}, {Key: "a/c/e", Size: 5}, {Key: "ab", Size: 0}, {Key: "b/x", Size: 6}}},
			{"bare prefix", "a", []Object{{Key: "a-b", Size: 1}, {Key: "a.txt", Size: 3}, {Key: "a/b", Size: 2}, {Key: "a/c/d", Size: 4}, {Key: "a/c/e", Size: 5}, {Key: "ab", Size: 0}}},
			{"folder prefix", "a/", []Object{{Key: "a/b", Size: 2}, {Key: "a/c/d", Size: 4}, {Key: "a/c/e", Size: 5}}},
			{"partial segment", "a/c", []Object{{Key: "a/c/d", Size: 4}, {Key: "a/c/e", Size: 5}}},
			{"exact key", "a/c/d", []Object{{Key: "a/c/d", Size: 4}}},
			{"no match", "zz", nil},
			{"past a file", "a.txt/", nil},
		}
		for _, tt := range tests {
			got := listAll(t, s, "list", tt.prefix)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s: List(%q) mismatch (-want +got):\n%s", tt.name, tt.prefix, diff)
			}
		}

		errStop := errors.New("stop")
		calls := 0
		err := s.List(ctx, "list", "", func(Object) error {
			calls++
			if calls == 2 {
				return errStop
			}
			return nil
		})
		if !errors.Is(err, errStop) || calls != 2 {
			t.Errorf("List with stopping fn: got err %v after %d calls, want %v after 2", err, calls, errStop)
		}
	})

	t.Run("open", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		mkBucket(t, "open")
		data := make([]byte, 1000)
		for i := range data {
			data[i] = byte(i % 251)
		}
		mustPut(t, s, "open", "dir/obj", string(data))
		for _, off := range []int64{0, 1, 500, 999, 1000, 5000} {
			rc, err := s.Open(ctx, "open", "dir/obj", off)
			if err != nil {
				t.Fatalf("Open(offset %d): %v", off, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("read at offset %d: %v", off, err)
			}
			want := data[min(off, int64(len(data))):]
			if !bytes.Equal(got, want) {
				t.Errorf("Open(offset %d): got %d bytes, want %d bytes %.8x...", off, len(got), len(want), want)
			}
		}
		if _, err := s.Open(ctx, "open", "dir/obj", -1); err == nil {
			t.Error("Open(offset -1): got nil error, want one")
		}
		for _, key := range []string{"dir/missing", "dir", "dir/obj/deeper"} {
			if _, err := s.Open(ctx, "open", key, 0); !errors.Is(err, ErrNotFound) {
				t.Errorf("Open(%q): got %v, want ErrNotFound", key, err)
			}
		}
	})

	t.Run("large put", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		mkBucket(t, "large")
		// A bare io.Reader of unknown length, as an export writer would give.
		if err := s.Put(ctx, "large", "big.ndjson", pattern(largeSize)); err != nil {
			t.Fatalf("Put %d bytes: %v", largeSize, err)
		}
		got := listAll(t, s, "large", "")
		if want := []Object{{Key: "big.ndjson", Size: largeSize}}; !cmp.Equal(got, want) {
			t.Fatalf("List after Put: got %v, want %v", got, want)
		}
		// Offset 0 checks every byte; the offset inside the second part
		// checks that a range read crosses part boundaries.
		for _, off := range []int64{0, 9<<20 + 7} {
			want := sha256.New()
			src := pattern(largeSize)
			io.CopyN(io.Discard, src, off)
			io.Copy(want, src)
			rc, err := s.Open(ctx, "large", "big.ndjson", off)
			if err != nil {
				t.Fatalf("Open(offset %d): %v", off, err)
			}
			h := sha256.New()
			_, err = io.Copy(h, rc)
			rc.Close()
			if err != nil {
				t.Fatalf("read at offset %d: %v", off, err)
			}
			if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
				t.Errorf("Open(offset %d): content differs from what was put", off)
			}
		}
	})

	t.Run("replace and empty", func(t *testing.T) {
		t.Parallel()
		mkBucket(t, "replace")
		mustPut(t, s, "replace", "k", "first version")
		mustPut(t, s, "replace", "k", "two")
		if got := readAll(t, s, "replace", "k"); got != "two" {
			t.Errorf("after replace: got %q, want %q", got, "two")
		}
		mustPut(t, s, "replace", "empty", "")
		if got := readAll(t, s, "replace", "empty"); got != "" {
			t.Errorf("empty object: got %q, want \"\"", got)
		}
		got := listAll(t, s, "replace", "")
		if want := []Object{{Key: "empty", Size: 0}, {Key: "k", Size: 3}}; !cmp.Equal(got, want) {
			t.Errorf("List: got %v, want %v", got, want)
		}
	})

	t.Run("failed put", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		mkBucket(t, "failed")
		mustPut(t, s, "failed", "kept", "old")
		errBody := errors.New("body broke")
		// 9 MiB: a multipart upload has sent its first part when this fails.
		for _, n := range []int64{100, 9 << 20} {
			body := io.MultiReader(pattern(n), errReader{errBody})
			if err := s.Put(ctx, "failed", "new", body); !errors.Is(err, errBody) {
				t.Errorf("Put of %d bytes then error: got %v, want %v", n, err, errBody)
			}
			body = io.MultiReader(pattern(n), errReader{errBody})
			if err := s.Put(ctx, "failed", "kept", body); !errors.Is(err, errBody) {
				t.Errorf("replacing Put of %d bytes then error: got %v, want %v", n, err, errBody)
			}
		}

		cctx, cancel := context.WithCancel(ctx)
		body := io.MultiReader(pattern(9<<20), cancelReader{cancel}, pattern(1<<20))
		if err := s.Put(cctx, "failed", "cancelled", body); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Put: got %v, want %v", err, context.Canceled)
		}

		got := listAll(t, s, "failed", "")
		if want := []Object{{Key: "kept", Size: 3}}; !cmp.Equal(got, want) {
			t.Errorf("List after failed Puts: got %v, want %v", got, want)
		}
		if got := readAll(t, s, "failed", "kept"); got != "old" {
			t.Errorf("object after failed replace: got %q, want %q", got, "old")
		}
	})

	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		mkBucket(t, "delete")
		mustPut(t, s, "delete", "x/y/z", "data")
		mustPut(t, s, "delete", "x/keep", "data")
		for range 2 { // the second time the object is already gone
			if err := s.Delete(ctx, "delete", "x/y/z"); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}
		if _, err := s.Open(ctx, "delete", "x/y/z", 0); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open after Delete: got %v, want ErrNotFound", err)
		}
		// The key that was a folder on the way to x/y/z is free again.
		mustPut(t, s, "delete", "x/y", "now a file")
		got := listAll(t, s, "delete", "")
		if want := []Object{{Key: "x/keep", Size: 4}, {Key: "x/y", Size: 10}}; !cmp.Equal(got, want) {
			t.Errorf("List after Delete: got %v, want %v", got, want)
		}
	})

	t.Run("missing bucket", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		const b = "no-such-bucket"
		if err := s.List(ctx, b, "", func(Object) error { return nil }); !errors.Is(err, ErrNoSuchBucket) {
			t.Errorf("List: got %v, want ErrNoSuchBucket", err)
		}
		if _, err := s.Open(ctx, b, "k", 0); !errors.Is(err, ErrNoSuchBucket) {
			t.Errorf("Open: got %v, want ErrNoSuchBucket", err)
		}
		if err := s.Put(ctx, b, "k", strings.NewReader("x")); !errors.Is(err, ErrNoSuchBucket) {
			t.Errorf("Put: got %v, want ErrNoSuchBucket", err)
		}
		if err := s.Put(ctx, b, "k", pattern(largeSize)); !errors.Is(err, ErrNoSuchBucket) {
			t.Errorf("multipart Put: got %v, want ErrNoSuchBucket", err)
		}
		if err := s.Delete(ctx, b, "k"); !errors.Is(err, ErrNoSuchBucket) {
			t.Errorf("Delete: got %v, want ErrNoSuchBucket", err)
		}
	})
}

// pattern returns a reproducible pseudo-random stream of n bytes that is
// only an io.Reader, so Put cannot learn its length.
func pattern(n int64) io.Reader {
	return struct{ io.Reader }{io.LimitReader(rand.NewChaCha8([32]byte{1}), n)}
}

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// cancelReader cancels a context on its first read and reports EOF, so the
// reads after it happen with a cancelled context.
type cancelReader struct{ cancel context.CancelFunc }

func (r cancelReader) Read([]byte) (int, error) {
	r.cancel()
	return 0, io.EOF
}

func mustPut(t *testing.T, s Store, bucket, key, data string) {
	t.Helper()
	if err := s.Put(t.Context(), bucket, key, strings.NewReader(data)); err != nil {
		t.Fatalf("Put(%s, %s): %v", bucket, key, err)
	}
}

func readAll(t *testing.T, s Store, bucket, key string) string {
	t.Helper()
	rc, err := s.Open(t.Context(), bucket, key, 0)
	if err != nil {
		t.Fatalf("Open(%s, %s): %v", bucket, key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return string(b)
}

func listAll(t *testing.T, s Store, bucket, prefix string) []Object {
	t.Helper()
	var got []Object
	err := s.List(t.Context(), bucket, prefix, func(o Object) error {
		if o.ModTime.IsZero() {
			t.Errorf("List(%s, %q): %s has no modification time", bucket, prefix, o.Key)
		}
		o.ModTime = time.Time{}
		got = append(got, o)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%s, %q): %v", bucket, prefix, err)
	}
	return got
}
