// Package s3io is object-storage access for import and export jobs and for
// the S3 API: list a prefix, stream an object from an offset, store an object
// from a stream, and delete an object.
//
// It has two implementations of the same surface. Dir keeps objects as files
// under a local folder (s3://bucket/key is <root>/bucket/key) and is the
// embedded default; Remote talks to Amazon S3 or any S3-compatible endpoint
// with path-style addressing.
//
// Buckets of a Dir belong to an account. The owner is recorded in the bucket
// folder itself (see Dir), a folder made by hand belongs to the Dir's default
// account, and every access goes through one account's view: Tenant, or
// Guard for callers that carry the account in their context (WithAccount).
// Another account's bucket answers ErrAccessDenied. With a Remote, isolation
// is the endpoint's: every call uses the configured credentials.
//
// The package owns addressing (ParseURI), key and bucket-name validation for
// the folder backend, bucket ownership, multipart staging for the folder, and
// mapping of storage errors onto the sentinels below, among them the faults
// that can clear (ErrPermissionDenied, ErrNoSpace, ErrUnavailable), which
// jobs wait out rather than fail on. It does not own NDJSON
// parsing, job bookkeeping or any wire protocol: callers declare the methods
// they need as their own small interface.
package s3io

import (
	"context"
	"errors"
	"io"
	"time"
)

// Object describes one stored object.
type Object struct {
	// Key is the full object key, without a leading slash.
	Key string
	// Size is the object's length in bytes.
	Size int64
	// ModTime is when the object was last written (zero when unknown).
	ModTime time.Time
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
	// ErrAccessDenied reports a bucket that belongs to another account, or a
	// call that names no account at all.
	ErrAccessDenied = errors.New("access denied")

	// The faults below can clear without a change to the request (an operator fixes permissions,
	// frees space, or the endpoint comes back): callers may retry the operation later. Unlike
	// ErrAccessDenied, which is fhirlake's own ownership rule, they come from the storage.

	// ErrPermissionDenied reports that the storage refuses the operation: a folder the process
	// may not read or write (EACCES, EPERM, EROFS), or a 403 answer from S3.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrNoSpace reports that the folder backend's disk is full (ENOSPC, EDQUOT).
	ErrNoSpace = errors.New("no space left on device")
	// ErrUnavailable reports that the S3 endpoint cannot be reached (connection refused or
	// reset, timeouts, name resolution) or answers with server errors after the SDK's retries.
	ErrUnavailable = errors.New("the S3 endpoint is unavailable")
	// ErrBucketExists reports a bucket name already taken by another account.
	ErrBucketExists = errors.New("bucket already exists")
	// ErrBucketOwned reports a bucket the caller already owns.
	ErrBucketOwned = errors.New("bucket already owned by you")
	// ErrBucketNotEmpty reports a bucket that still holds objects.
	ErrBucketNotEmpty = errors.New("bucket not empty")
	// ErrNoSuchUpload reports a multipart upload that does not exist (or no
	// longer: completed or aborted).
	ErrNoSuchUpload = errors.New("no such upload")
	// ErrInvalidPart reports a multipart completion naming a part that was
	// not uploaded, or with another ETag.
	ErrInvalidPart = errors.New("invalid part")
	// ErrKeyConflict reports a key the folder cannot hold beside an existing one: "a/b" when
	// the object "a" exists, or "a" when objects below "a/" exist.
	ErrKeyConflict = errors.New("key conflicts with an existing object")
	// ErrPartTooSmall reports a multipart part, other than the last, below
	// the 5 MiB minimum.
	ErrPartTooSmall = errors.New("part too small")
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
