package s3io

import (
	"context"
	"fmt"
	"io"
)

// Tenant is one account's view of a Dir: it reaches only buckets the account owns. A bucket of
// another account answers ErrAccessDenied (after ErrInvalidBucket and ErrNoSuchBucket, as S3
// does); a Tenant of the empty account reaches nothing. It implements Store, and the bucket,
// copy and multipart operations the S3 API needs. A Tenant is safe for concurrent use.
type Tenant struct {
	d       *Dir
	account string
}

var _ Store = (*Tenant)(nil)

// As returns the view of account (a 12-digit account id).
func (d *Dir) As(account string) *Tenant { return &Tenant{d: d, account: account} }

// Account returns the account of the view.
func (t *Tenant) Account() string { return t.account }

// open opens a bucket the account owns.
func (t *Tenant) open(name string) (*bucket, error) {
	b, err := t.d.openBucket(name)
	if err != nil {
		return nil, err
	}
	if b.info.Owner != t.account || t.account == "" {
		b.close()
		return nil, fmt.Errorf("bucket %s: %w", name, ErrAccessDenied)
	}
	return b, nil
}

// List implements Store.List. Folders are read one at a time and only when their keys can
// match prefix, so listing a deep prefix does not walk the whole bucket.
func (t *Tenant) List(ctx context.Context, bucket, prefix string, fn func(Object) error) error {
	return t.Walk(ctx, bucket, prefix, "", func(o Object) (string, error) { return "", fn(o) })
}

// Walk calls fn for every object whose key starts with prefix and sorts after after ("" for
// all), in ascending byte order of key. When fn returns a key that sorts after the last one
// given, the walk resumes after that key instead, so a caller can skip what it does not need
// (a delimiter listing skips each common prefix P by returning P+"\xff", which no UTF-8 key
// below P reaches). It stops at the first error of fn and returns it.
func (t *Tenant) Walk(ctx context.Context, bucket, prefix, after string, fn func(Object) (string, error)) error {
	b, err := t.open(bucket)
	if err != nil {
		return err
	}
	defer b.close()
	return walk(ctx, b, "", prefix, &after, func(o Object) error {
		skip, err := fn(o)
		if skip > after {
			after = skip
		}
		return err
	})
}

// Open implements Store.Open.
func (t *Tenant) Open(ctx context.Context, bucket, key string, offset int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("open s3://%s/%s: negative offset %d", bucket, key, offset)
	}
	f, _, err := t.Get(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("open s3://%s/%s: %w", bucket, key, err)
		}
	}
	return f, nil
}

// Get opens an object for reading and describes it (size and time as of opening; the stream
// stays that object even if it is replaced meanwhile). The caller must close the stream.
func (t *Tenant) Get(ctx context.Context, bucket, key string) (io.ReadSeekCloser, Object, error) {
	if err := checkKey(key); err != nil {
		return nil, Object{}, err
	}
	b, err := t.open(bucket)
	if err != nil {
		return nil, Object{}, err
	}
	defer b.close()
	if err := ctx.Err(); err != nil {
		return nil, Object{}, err
	}
	f, o, err := b.get(key)
	if err != nil {
		return nil, Object{}, err
	}
	return f, o, nil
}

// Stat describes an object.
func (t *Tenant) Stat(ctx context.Context, bucket, key string) (Object, error) {
	f, o, err := t.Get(ctx, bucket, key)
	if err != nil {
		return Object{}, err
	}
	f.Close()
	return o, nil
}

// Put implements Store.Put.
func (t *Tenant) Put(ctx context.Context, bucket, key string, body io.Reader) error {
	_, err := t.PutObject(ctx, bucket, key, body)
	return err
}

// PutObject is Put that describes the stored object. A read error of body (such as a failed
// checksum or signature of the S3 API's verifying reader) aborts the write.
func (t *Tenant) PutObject(ctx context.Context, bucket, key string, body io.Reader) (Object, error) {
	if err := checkKey(key); err != nil {
		return Object{}, err
	}
	b, err := t.open(bucket)
	if err != nil {
		return Object{}, err
	}
	defer b.close()
	return b.put(ctx, key, body)
}

// Delete implements Store.Delete. Folders left empty by the deletion are removed too, up to the
// bucket folder.
func (t *Tenant) Delete(ctx context.Context, bucket, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	b, err := t.open(bucket)
	if err != nil {
		return err
	}
	defer b.close()
	return b.delete(ctx, key)
}

// Copy copies an object within or between buckets the account owns.
func (t *Tenant) Copy(ctx context.Context, srcBucket, srcKey, dstBucket, dstKey string) (Object, error) {
	src, _, err := t.Get(ctx, srcBucket, srcKey)
	if err != nil {
		return Object{}, err
	}
	defer src.Close()
	return t.PutObject(ctx, dstBucket, dstKey, src)
}

// Guard is a Store over a Dir that serves each call as the account its context carries
// (WithAccount); a call whose context carries none is ErrAccessDenied. Job workers use it, so
// a job reaches only its own account's buckets.
type Guard struct{ d *Dir }

var _ Store = (*Guard)(nil)

// Guard returns the context-scoped Store of d.
func (d *Dir) Guard() *Guard { return &Guard{d: d} }

func (g *Guard) tenant(ctx context.Context) *Tenant {
	account, _ := AccountFrom(ctx)
	return g.d.As(account)
}

// List implements Store.List for the context's account.
func (g *Guard) List(ctx context.Context, bucket, prefix string, fn func(Object) error) error {
	return g.tenant(ctx).List(ctx, bucket, prefix, fn)
}

// Open implements Store.Open for the context's account.
func (g *Guard) Open(ctx context.Context, bucket, key string, offset int64) (io.ReadCloser, error) {
	return g.tenant(ctx).Open(ctx, bucket, key, offset)
}

// Put implements Store.Put for the context's account.
func (g *Guard) Put(ctx context.Context, bucket, key string, body io.Reader) error {
	return g.tenant(ctx).Put(ctx, bucket, key, body)
}

// Delete implements Store.Delete for the context's account.
func (g *Guard) Delete(ctx context.Context, bucket, key string) error {
	return g.tenant(ctx).Delete(ctx, bucket, key)
}

type accountKey struct{}

// WithAccount returns a copy of ctx carrying the account on whose behalf storage is used.
func WithAccount(ctx context.Context, account string) context.Context {
	return context.WithValue(ctx, accountKey{}, account)
}

// AccountFrom returns the account stored by WithAccount, and whether there was one.
func AccountFrom(ctx context.Context) (string, bool) {
	a, ok := ctx.Value(accountKey{}).(string)
	return a, ok
}
