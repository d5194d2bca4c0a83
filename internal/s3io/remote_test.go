package s3io

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func TestRemoteConformance(t *testing.T) {
	t.Parallel()
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	r, err := NewRemote(t.Context(), RemoteConfig{
		Endpoint:        srv.URL,
		AccessKeyID:     "test",
		SecretAccessKey: "test",
	})
	if err != nil {
		t.Fatalf("NewRemote: %v", err)
	}
	t.Cleanup(func() {
		// Runs after the parallel subtests: failed and cancelled multipart
		// Puts must have aborted their uploads.
		out, err := r.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("failed")})
		if err != nil {
			t.Fatalf("ListMultipartUploads: %v", err)
		}
		if len(out.Uploads) != 0 {
			t.Errorf("unfinished multipart uploads: got %d, want 0", len(out.Uploads))
		}
	})
	testStore(t, r, func(t *testing.T, name string) {
		t.Helper()
		if err := backend.CreateBucket(name); err != nil {
			t.Fatalf("CreateBucket(%s): %v", name, err)
		}
	})
}

func TestNewRemoteInvalidConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  RemoteConfig
	}{
		{"part too small", RemoteConfig{PartSize: 1 << 20}},
		{"part too large", RemoteConfig{PartSize: 6 << 30}},
		{"key without secret", RemoteConfig{AccessKeyID: "id"}},
		{"secret without key", RemoteConfig{SecretAccessKey: "secret"}},
		{"endpoint without scheme", RemoteConfig{Endpoint: "localhost:9000"}},
		{"endpoint other scheme", RemoteConfig{Endpoint: "ftp://localhost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewRemote(t.Context(), tt.cfg); err == nil {
				t.Errorf("NewRemote(%+v): got nil error, want one", tt.cfg)
			}
		})
	}
}
