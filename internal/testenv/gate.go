package testenv

import (
	"context"
	"io"
	"strings"
	"sync"

	"github.com/fhirlake/fhirlake/internal/s3io"
)

// Objects is the S3 access of the job workers (the same methods as Objects, restated so
// that this package imports no worker).
type Objects interface {
	List(ctx context.Context, bucket, prefix string, fn func(s3io.Object) error) error
	Open(ctx context.Context, bucket, key string, offset int64) (io.ReadCloser, error)
	Put(ctx context.Context, bucket, key string, body io.Reader) error
}

// GatedPut wraps the workers' S3 access and holds every Put of a key containing Match until
// Release is closed; Started is closed when the first such Put arrives.
type GatedPut struct {
	Objects
	Match   string
	Started chan struct{}
	Release chan struct{}
	once    sync.Once
}

// NewGatedPut returns a gate for keys containing match.
func NewGatedPut(match string) *GatedPut {
	return &GatedPut{Match: match, Started: make(chan struct{}), Release: make(chan struct{})}
}

// Wrap installs the gate around o.
func (g *GatedPut) Wrap(o Objects) Objects {
	g.Objects = o
	return g
}

// Put implements Objects.
func (g *GatedPut) Put(ctx context.Context, bucket, key string, body io.Reader) error {
	if strings.Contains(key, g.Match) {
		g.once.Do(func() { close(g.Started) })
		select {
		case <-g.Release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.Objects.Put(ctx, bucket, key, body)
}
