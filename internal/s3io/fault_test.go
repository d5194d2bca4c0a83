package s3io_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fhirlake/fhirlake/internal/s3io"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// owner is the account of the folders the tests make.
const owner = "000000000000"

// TestDirFaults checks that the folder backend names the faults a job can wait out: a read-only
// bucket is ErrPermissionDenied, a full disk is ErrNoSpace.
func TestDirFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("read-only", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "rob", "old"), 0o755)
		os.WriteFile(filepath.Join(root, "rob", "old", "k"), []byte("x"), 0o644)
		dir, err := s3io.NewDir(root, owner)
		if err != nil {
			t.Fatal(err)
		}
		defer dir.Close()
		d := dir.As(owner)
		testenv.ReadOnly(t, filepath.Join(root, "rob"))
		if err := d.Put(ctx, "rob", "new/k", strings.NewReader("data")); !errors.Is(err, s3io.ErrPermissionDenied) {
			t.Errorf("Put into a read-only bucket: %v, want ErrPermissionDenied", err)
		}
		if err := d.Delete(ctx, "rob", "old/k"); !errors.Is(err, s3io.ErrPermissionDenied) {
			t.Errorf("Delete from a read-only bucket: %v, want ErrPermissionDenied", err)
		}
		// Reading still works.
		if err := d.List(ctx, "rob", "", func(s3io.Object) error { return nil }); err != nil {
			t.Errorf("List of a read-only bucket: %v", err)
		}
	})
	t.Run("disk full", func(t *testing.T) {
		t.Parallel()
		root, ok := testenv.MountTmpfs(t, "1m")
		if !ok {
			t.Skip("cannot mount a tmpfs here")
		}
		dir, err := s3io.NewDir(root, owner)
		if err != nil {
			t.Fatal(err)
		}
		defer dir.Close()
		d := dir.As(owner)
		if err := d.CreateBucket("bkt", "us-east-1"); err != nil {
			t.Fatal(err)
		}
		big := strings.NewReader(strings.Repeat("x", 2<<20))
		if err := d.Put(ctx, "bkt", "k", big); !errors.Is(err, s3io.ErrNoSpace) {
			t.Errorf("Put on a full disk: %v, want ErrNoSpace", err)
		}
		if err := d.List(ctx, "bkt", "", func(o s3io.Object) error { return errors.New("listed " + o.Key) }); err != nil {
			t.Errorf("after a failed Put: %v, want no object", err)
		}
	})
}

// TestRemoteFaults checks that the S3 backend names the faults a job can wait out: 403 answers are
// ErrPermissionDenied, an endpoint where nothing listens is ErrUnavailable.
func TestRemoteFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	}))
	t.Cleanup(denied.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		name, endpoint string
		want           error
	}{
		{"access denied", denied.URL, s3io.ErrPermissionDenied},
		{"unreachable", closed, s3io.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := s3io.NewRemote(ctx, s3io.RemoteConfig{Endpoint: tc.endpoint, AccessKeyID: "k", SecretAccessKey: "s"})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.List(ctx, "b", "p/", func(s3io.Object) error { return nil }); !errors.Is(err, tc.want) {
				t.Errorf("List: %v, want %v", err, tc.want)
			}
			if err := r.Put(ctx, "b", "k", strings.NewReader("data")); !errors.Is(err, tc.want) {
				t.Errorf("Put: %v, want %v", err, tc.want)
			}
			if _, err := r.Open(ctx, "b", "k", 0); !errors.Is(err, tc.want) {
				t.Errorf("Open: %v, want %v", err, tc.want)
			}
		})
	}
}
