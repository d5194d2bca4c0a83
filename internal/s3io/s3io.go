// Package s3io is thin object-storage access for import and export jobs:
// list a prefix, stream an object from an offset, store an object from a
// stream, and delete an object.
//
// It has two implementations of the same surface. Dir keeps objects as files
// under a local folder (s3://bucket/key is <root>/bucket/key) and is the
// embedded default. Remote talks to Amazon S3 or any S3-compatible endpoint
// with path-style addressing.
//
// The package owns addressing (ParseURI), key validation for the folder
// backend, and mapping of storage errors onto the sentinels below. It does
// not own NDJSON parsing, job bookkeeping or bucket administration: callers
// declare the two or three methods they need as their own small interface,
// and buckets are created out of band (Dir.CreateBucket exists for tests and
// the quick-start).
package s3io

import (
	"context"
	"errors"
	"io"
)

// Object describes one stored object.
type Object struct {
	// Key is the full object key, without a leading slash.
	Key string
	// Size is the object's length in bytes.
	Size int64
}

// Store documents the surface shared by Dir and Remote and lets one
// conformance suite run against both. Consumers should declare their own
// smaller interface rather than depend on this one.
type Store interface {
	// List calls fn for every object whose key starts with prefix, at any
	// depth, in ascending byte order of key. It stops at the first error
	// returned by fn and returns that error. A missing bucket returns
	// ErrNoSuchBucket.
	List(ctx context.Context, bucket, prefix string, fn func(Object) error) error

	// Open streams the bytes of an object starting at byte offset (0 for the
	// whole object). An offset at or past the end yields an empty stream. A
	// missing object returns ErrNotFound; a missing bucket returns
	// ErrNoSuchBucket. The caller must close the stream.
	Open(ctx context.Context, bucket, key string, offset int64) (io.ReadCloser, error)

	// Put stores an object read from body, whose length need not be known.
	// It never holds the whole object in memory. When Put returns nil the
	// object is complete and replaces any previous object under key; when it
	// fails or ctx is cancelled, no partial object becomes visible and any
	// previous object is left as it was. A missing bucket returns
	// ErrNoSuchBucket.
	Put(ctx context.Context, bucket, key string, body io.Reader) error

	// Delete removes an object. Deleting a missing object is not an error; a
	// missing bucket returns ErrNoSuchBucket.
	Delete(ctx context.Context, bucket, key string) error
}

// Sentinel errors, tested with errors.Is. Returned errors wrap them with the
// bucket and key for context.
var (
	// ErrNotFound reports that an object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrNoSuchBucket reports that a bucket does not exist.
	ErrNoSuchBucket = errors.New("no such bucket")
	// ErrInvalidKey reports an object key the folder backend cannot store
	// safely, such as one containing ".." or an empty path segment.
	ErrInvalidKey = errors.New("invalid object key")
	// ErrInvalidBucket reports a bucket name that breaks the S3 naming rules
	// (3 to 63 characters of a-z, 0-9, '.' and '-', starting and ending with
	// a letter or digit).
	ErrInvalidBucket = errors.New("invalid bucket name")
)

// copyContext copies src to dst like io.CopyBuffer, checking ctx before each
// read so that a cancelled Put stops within one buffer of data.
func copyContext(ctx context.Context, dst io.Writer, src io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// fill reads from r until buf is full or r is exhausted, checking ctx before
// each read. It reports how many bytes it read and whether r hit EOF.
func fill(ctx context.Context, r io.Reader, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return n, false, err
		}
		nr, rerr := r.Read(buf[n:])
		n += nr
		if rerr == io.EOF {
			return n, true, nil
		}
		if rerr != nil {
			return n, false, rerr
		}
	}
	return n, false, nil
}
