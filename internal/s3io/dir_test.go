package s3io

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testOwner is the default account of the test Dirs.
const testOwner = "111111111111"

// newTestDir returns the default account's view of a Dir over a fresh folder, and the folder.
func newTestDir(t *testing.T) (*Tenant, string) {
	t.Helper()
	root := t.TempDir()
	d, err := NewDir(root, testOwner)
	if err != nil {
		t.Fatalf("NewDir: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d.As(testOwner), root
}

func TestDirConformance(t *testing.T) {
	t.Parallel()
	d, _ := newTestDir(t)
	testStore(t, d, func(t *testing.T, name string) {
		t.Helper()
		if err := d.CreateBucket(name, "us-east-1"); err != nil {
			t.Fatalf("CreateBucket(%s): %v", name, err)
		}
	})
}

func TestDirInvalidNames(t *testing.T) {
	t.Parallel()
	d, _ := newTestDir(t)
	if err := d.CreateBucket("bkt", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateBucket("bkt", "us-east-1"); !errors.Is(err, ErrBucketOwned) {
		t.Errorf("CreateBucket of an existing bucket: got %v, want ErrBucketOwned", err)
	}
	tests := []struct {
		name   string
		bucket string
		key    string
		want   error
	}{
		{"empty key", "bkt", "", ErrInvalidKey},
		{"absolute", "bkt", "/etc/passwd", ErrInvalidKey},
		{"dot dot", "bkt", "../other/k", ErrInvalidKey},
		{"inner dot dot", "bkt", "a/../../k", ErrInvalidKey},
		{"only dot dot", "bkt", "..", ErrInvalidKey},
		{"dot segment", "bkt", "a/./b", ErrInvalidKey},
		{"empty segment", "bkt", "a//b", ErrInvalidKey},
		{"trailing slash", "bkt", "a/", ErrInvalidKey},
		{"backslash", "bkt", `a\..\..\k`, ErrInvalidKey},
		{"nul", "bkt", "a\x00b", ErrInvalidKey},
		{"temp name", "bkt", "a/" + tempPrefix + "x", ErrInvalidKey},
		{"owner record", "bkt", ownerFile, ErrInvalidKey},
		{"reserved prefix", "bkt", reservedPrefix + "anything/k", ErrInvalidKey},
		{"too long", "bkt", strings.Repeat("k", maxKeyLen+1), ErrInvalidKey},
		{"bucket dot dot", "..", "k", ErrInvalidBucket},
		{"bucket path", "bkt/sub", "k", ErrInvalidBucket},
		{"bucket upper case", "Bkt", "k", ErrInvalidBucket},
		{"bucket too short", "b", "k", ErrInvalidBucket},
		{"bucket leading dot", ".bkt", "k", ErrInvalidBucket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			if err := d.Put(ctx, tt.bucket, tt.key, strings.NewReader("x")); !errors.Is(err, tt.want) {
				t.Errorf("Put: got %v, want %v", err, tt.want)
			}
			if _, err := d.Open(ctx, tt.bucket, tt.key, 0); !errors.Is(err, tt.want) {
				t.Errorf("Open: got %v, want %v", err, tt.want)
			}
			if err := d.Delete(ctx, tt.bucket, tt.key); !errors.Is(err, tt.want) {
				t.Errorf("Delete: got %v, want %v", err, tt.want)
			}
		})
	}
	if err := d.CreateBucket("../up", "us-east-1"); !errors.Is(err, ErrInvalidBucket) {
		t.Errorf("CreateBucket(../up): got %v, want ErrInvalidBucket", err)
	}
}

// TestDirPutInProgress checks that a Put's temp file is invisible while the
// body is still being written, and that the object appears once it ends.
func TestDirPutInProgress(t *testing.T) {
	t.Parallel()
	d, _ := newTestDir(t)
	ctx := t.Context()
	if err := d.CreateBucket("bkt", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- d.Put(ctx, "bkt", "dir/obj", pr) }()
	// The pipe is unbuffered: once Write returns, Put holds the bytes and
	// its temp file exists.
	if _, err := pw.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, d, "bkt", ""); len(got) != 0 {
		t.Errorf("List during Put: got %v, want nothing", got)
	}
	if _, err := d.Open(ctx, "bkt", "dir/obj", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open during Put: got %v, want ErrNotFound", err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("Put: %v", err)
	}
	if got, want := listAll(t, d, "bkt", ""), []Object{{Key: "dir/obj", Size: 7}}; !cmp.Equal(got, want) {
		t.Errorf("List after Put: got %v, want %v", got, want)
	}
}

// TestDirConfinement checks that symbolic links cannot lead Dir outside its
// root, and that a file/folder clash between keys is an error.
func TestDirConfinement(t *testing.T) {
	t.Parallel()
	d, root := newTestDir(t)
	ctx := t.Context()
	if err := d.CreateBucket("bkt", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "bkt", "escape")); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
	if rc, err := d.Open(ctx, "bkt", "escape/secret", 0); err == nil {
		rc.Close()
		t.Error("Open through an escaping symlink: got nil error")
	}
	if err := d.Put(ctx, "bkt", "escape/new", strings.NewReader("x")); err == nil {
		t.Error("Put through an escaping symlink: got nil error")
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file written outside root: stat err %v", err)
	}
	if got := listAll(t, d, "bkt", ""); len(got) != 0 {
		t.Errorf("List: got %v, want symlinks ignored", got)
	}

	mustPut(t, d, "bkt", "clash", "x")
	if err := d.Put(ctx, "bkt", "clash/below", strings.NewReader("y")); err == nil {
		t.Error("Put under an existing object's key: got nil error")
	}
	if got := readAll(t, d, "bkt", "clash"); got != "x" {
		t.Errorf("object after clashing Put: got %q, want %q", got, "x")
	}
}

// TestDirTempSwept checks that writes in progress live in the bucket's reserved temp folder,
// never listed, and that leftovers of dead writers are swept once stale.
func TestDirTempSwept(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	tmp := filepath.Join(root, "bkt", tempDir)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(tmp, tempPrefix+"old")
	fresh := filepath.Join(tmp, tempPrefix+"new")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleTemp)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	d, err := NewDir(root, testOwner)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp file removed: %v", err)
	}
	tn := d.As(testOwner)
	if err := tn.Put(context.Background(), "bkt", "a/b.txt", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "bkt", "a"))
	if len(entries) != 1 || entries[0].Name() != "b.txt" {
		t.Errorf("bucket folder holds %v", entries)
	}
	if got := listAll(t, tn, "bkt", ""); len(got) != 1 || got[0].Key != "a/b.txt" {
		t.Errorf("List = %v, want only a/b.txt", got)
	}
}
