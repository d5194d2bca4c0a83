package server

import (
	"context"
	"io"

	"github.com/fhirlake/fhirlake/internal/console"
	"github.com/fhirlake/fhirlake/internal/s3io"
)

// consoleObjects returns the console's view of the embedded S3 folder, or nil (no S3 browser)
// when the service uses an external S3 endpoint.
func (s *Server) consoleObjects() console.Objects {
	if s.dir == nil {
		return nil
	}
	return &dirObjects{dir: s.dir}
}

// dirObjects is the embedded folder as the console sees it: each account reaches only its own
// buckets.
type dirObjects struct {
	dir *s3io.Dir
}

func (o *dirObjects) Buckets(ctx context.Context, account string) ([]string, error) {
	bs, err := o.dir.As(account).Buckets()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Name
	}
	return names, nil
}

func (o *dirObjects) CreateBucket(ctx context.Context, account, region, bucket string) error {
	return o.dir.As(account).CreateBucket(bucket, region)
}

func (o *dirObjects) List(ctx context.Context, account, bucket, prefix string, fn func(s3io.Object) error) error {
	return o.dir.As(account).List(ctx, bucket, prefix, fn)
}

func (o *dirObjects) Open(ctx context.Context, account, bucket, key string, offset int64) (io.ReadCloser, error) {
	return o.dir.As(account).Open(ctx, bucket, key, offset)
}

func (o *dirObjects) Put(ctx context.Context, account, bucket, key string, body io.Reader) error {
	return o.dir.As(account).Put(ctx, bucket, key, body)
}
