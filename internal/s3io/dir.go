package s3io

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// tempPrefix starts the name of every file that Put is still writing. Such
// files are never listed, and keys with a segment that starts with it are
// rejected, so a temp file can never be mistaken for an object.
const tempPrefix = ".s3io-put-"

// tempDir is the folder, directly under root, where Put writes before renaming into place. Its
// name is not a valid bucket name, so it never shows as a bucket, and a write cut short by a
// crash leaves nothing inside any bucket.
const tempDir = ".s3io-tmp"

// staleTemp is the age after which NewDir removes a leftover temp file (one whose writer died).
const staleTemp = time.Hour

// maxKeyLen is the S3 limit on key length, in bytes.
const maxKeyLen = 1024

// putBufSize is the copy buffer Dir.Put uses, and the first buffer
// Remote.Put reads into; cancellation is noticed within one buffer.
const putBufSize = 64 << 10

// Dir stores objects as files in a local folder: object s3://bucket/key is
// the file <root>/bucket/key, and a bucket exists when its folder does.
//
// All access goes through an os.Root, so neither a crafted key nor a
// symbolic link inside the tree can reach files outside root. Keys must be
// representable as relative file paths: no empty, "." or ".." segments, no
// leading or trailing slash, no backslash or NUL. Because a name cannot be
// both a file and a folder, Dir cannot hold both "a" and "a/b"; the second
// Put of such a pair fails. Empty folders are not objects and are not
// listed. List ignores symbolic links, special files, and names that could
// not be written through a valid key (such as ones containing a backslash).
//
// A Dir is safe for concurrent use. Close releases the root handle.
type Dir struct {
	root *os.Root
}

var _ Store = (*Dir)(nil)

// NewDir opens root, which must be an existing folder, as a Dir.
func NewDir(root string) (*Dir, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("open object folder: %w", err)
	}
	d := &Dir{root: r}
	d.sweepTemp(time.Now().Add(-staleTemp))
	return d, nil
}

// sweepTemp removes temp files last written before cutoff: leftovers of writers that died.
func (d *Dir) sweepTemp(cutoff time.Time) {
	f, err := d.root.Open(tempDir)
	if err != nil {
		return
	}
	defer f.Close()
	entries, _ := f.ReadDir(-1)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
			d.root.Remove(filepath.Join(tempDir, e.Name()))
		}
	}
}

// Close releases the handle on the root folder. The Dir must not be used
// afterwards.
func (d *Dir) Close() error {
	return d.root.Close()
}

// CreateBucket creates the folder for bucket if it does not exist yet.
// Creating an existing bucket is not an error.
func (d *Dir) CreateBucket(name string) error {
	if err := checkBucket(name); err != nil {
		return err
	}
	err := d.root.Mkdir(name, 0o777)
	if errors.Is(err, fs.ErrExist) {
		st, serr := d.root.Stat(name)
		if serr == nil && st.IsDir() {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// List implements Store.List. Folders are read one at a time and only when
// their keys can match prefix, so listing a deep prefix does not walk the
// whole bucket.
func (d *Dir) List(ctx context.Context, bucket, prefix string, fn func(Object) error) error {
	if err := d.checkBucketExists(bucket); err != nil {
		return err
	}
	return d.walk(ctx, bucket, "", prefix, fn)
}

// dirEntry is a folder entry prepared for ordering by key.
type dirEntry struct {
	name    string
	sortKey string // name, plus "/" for folders
	dir     bool
	size    int64
}

// walk lists the folder whose keys start with dirKey ("" or ending in "/").
//
// Sorting each folder's entries by name, with "/" appended to folder names,
// yields keys in global byte order: entries whose sort keys differ at some
// byte keep that order in every key below them, and the only way one sort
// key can be a prefix of another is a file name, whose single key is then
// the shorter and so sorts first.
func (d *Dir) walk(ctx context.Context, bucket, dirKey, prefix string, fn func(Object) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := d.readDir(bucket, dirKey)
	if err != nil {
		return err
	}
	for _, e := range entries {
		key := dirKey + e.sortKey
		if e.dir {
			if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
				continue
			}
			if err := d.walk(ctx, bucket, key, prefix, fn); err != nil {
				return err
			}
			continue
		}
		if !strings.HasPrefix(key, prefix) {
			continue
		}
		if err := fn(Object{Key: key, Size: e.size}); err != nil {
			return err
		}
	}
	return nil
}

// readDir returns the listable entries of one folder in key order. A folder
// that vanished since its parent was read (a concurrent Delete pruning it)
// reads as empty.
func (d *Dir) readDir(bucket, dirKey string) ([]dirEntry, error) {
	name := filepath.Join(bucket, filepath.FromSlash(dirKey))
	f, err := d.root.Open(name)
	if dirKey != "" && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, dirKey, err)
	}
	des, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, dirKey, err)
	}
	entries := make([]dirEntry, 0, len(des))
	for _, de := range des {
		if checkSegment(de.Name()) != nil {
			continue
		}
		switch typ := de.Type(); {
		case typ.IsDir():
			entries = append(entries, dirEntry{name: de.Name(), sortKey: de.Name() + "/", dir: true})
		case typ.IsRegular():
			info, err := de.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since ReadDir
			}
			if err != nil {
				return nil, fmt.Errorf("list s3://%s/%s%s: %w", bucket, dirKey, de.Name(), err)
			}
			entries = append(entries, dirEntry{name: de.Name(), sortKey: de.Name(), size: info.Size()})
		}
	}
	slices.SortFunc(entries, func(a, b dirEntry) int { return cmp.Compare(a.sortKey, b.sortKey) })
	return entries, nil
}

// Open implements Store.Open.
func (d *Dir) Open(ctx context.Context, bucket, key string, offset int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("open s3://%s/%s: negative offset %d", bucket, key, offset)
	}
	name, err := objectPath(bucket, key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := d.root.Open(name)
	if err != nil {
		if isNotExist(err) {
			return nil, d.missing(bucket, key)
		}
		return nil, fmt.Errorf("open s3://%s/%s: %w", bucket, key, err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		f.Close()
		return nil, d.missing(bucket, key)
	}
	if err == nil && offset > 0 {
		_, err = f.Seek(offset, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open s3://%s/%s: %w", bucket, key, err)
	}
	return f, nil
}

// Put implements Store.Put. It writes to a temp file in the root's temp
// folder, syncs it, and renames it over the target, so readers see either the
// old object or the complete new one, and a crash mid-write leaves no file in
// the bucket.
func (d *Dir) Put(ctx context.Context, bucket, key string, body io.Reader) (err error) {
	name, err := objectPath(bucket, key)
	if err != nil {
		return err
	}
	if err := d.checkBucketExists(bucket); err != nil {
		return err
	}
	f, tmp, err := d.createTemp(filepath.Dir(name))
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			d.root.Remove(tmp)
			d.prune(bucket, key)
			err = fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
		}
	}()
	if _, err := copyContext(ctx, f, body, make([]byte, putBufSize)); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.root.Rename(tmp, name)
}

// createTemp creates the parent folders of an object and a fresh temp file
// among them. It retries when a concurrent Delete prunes a folder between
// the two steps.
func (d *Dir) createTemp(dir string) (*os.File, string, error) {
	var err error
	for range 3 {
		if err = d.root.MkdirAll(dir, 0o777); err != nil {
			if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
				return nil, "", fmt.Errorf("key conflicts with an existing object: %w", err)
			}
			return nil, "", err
		}
		if err = d.root.MkdirAll(tempDir, 0o777); err != nil {
			return nil, "", err
		}
		tmp := filepath.Join(tempDir, tempPrefix+rand.Text())
		var f *os.File
		f, err = d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil {
			return f, tmp, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", err
		}
	}
	return nil, "", err
}

// Delete implements Store.Delete. Folders left empty by the deletion are
// removed too, up to the bucket folder.
func (d *Dir) Delete(ctx context.Context, bucket, key string) error {
	name, err := objectPath(bucket, key)
	if err != nil {
		return err
	}
	if err := d.checkBucketExists(bucket); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := d.root.Lstat(name)
	if isNotExist(err) || err == nil && st.IsDir() {
		return nil
	}
	if err == nil {
		err = d.root.Remove(name)
	}
	if err != nil && !isNotExist(err) {
		return fmt.Errorf("delete s3://%s/%s: %w", bucket, key, err)
	}
	d.prune(bucket, key)
	return nil
}

// prune removes the empty folders above key, deepest first, stopping at the
// bucket folder or at the first folder that still has entries. It is best
// effort: a folder that cannot be removed is simply left in place.
func (d *Dir) prune(bucket, key string) {
	for dir := pathDir(key); dir != ""; dir = pathDir(dir) {
		name := filepath.Join(bucket, filepath.FromSlash(dir))
		st, err := d.root.Lstat(name)
		if err != nil || !st.IsDir() || d.root.Remove(name) != nil {
			return
		}
	}
}

// pathDir returns key without its last slash-separated segment, or "".
func pathDir(key string) string {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return ""
	}
	return key[:i]
}

// checkBucketExists returns ErrNoSuchBucket unless bucket's folder exists.
func (d *Dir) checkBucketExists(bucket string) error {
	if err := checkBucket(bucket); err != nil {
		return err
	}
	st, err := d.root.Stat(bucket)
	if isNotExist(err) || err == nil && !st.IsDir() {
		return fmt.Errorf("bucket %s: %w", bucket, ErrNoSuchBucket)
	}
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bucket, err)
	}
	return nil
}

// missing explains why an object could not be found: its bucket is missing
// too, or only the object is.
func (d *Dir) missing(bucket, key string) error {
	if err := d.checkBucketExists(bucket); err != nil {
		return err
	}
	return fmt.Errorf("s3://%s/%s: %w", bucket, key, ErrNotFound)
}

// objectPath validates bucket and key and returns the object's file name
// relative to the root.
func objectPath(bucket, key string) (string, error) {
	if err := checkBucket(bucket); err != nil {
		return "", err
	}
	if err := checkKey(key); err != nil {
		return "", err
	}
	return filepath.Join(bucket, filepath.FromSlash(key)), nil
}

// checkKey rejects keys that are not a plain relative path of non-empty
// segments, so that no key can name a folder, a temp file, or anything
// outside its bucket.
func checkKey(key string) error {
	if key == "" || len(key) > maxKeyLen {
		return fmt.Errorf("%w %q: length must be 1 to %d", ErrInvalidKey, key, maxKeyLen)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if err := checkSegment(seg); err != nil {
			return fmt.Errorf("%w %q: %w", ErrInvalidKey, key, err)
		}
	}
	if !filepath.IsLocal(filepath.FromSlash(key)) {
		return fmt.Errorf("%w %q: not a local path", ErrInvalidKey, key)
	}
	return nil
}

// checkSegment rejects one slash-separated part of a key that cannot be a
// file or folder name of its own.
func checkSegment(seg string) error {
	switch {
	case seg == "":
		return errors.New("empty segment")
	case seg == "." || seg == "..":
		return fmt.Errorf("segment %q", seg)
	case strings.HasPrefix(seg, tempPrefix):
		return fmt.Errorf("reserved segment prefix %q", tempPrefix)
	case strings.ContainsAny(seg, "\\\x00"):
		return errors.New("backslash or NUL")
	}
	return nil
}

// isNotExist reports whether err means the path is absent, including a path
// whose parent is a file rather than a folder.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
