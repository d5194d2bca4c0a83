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

// reservedPrefix starts every name s3io keeps for itself inside the folder: temp files, the owner
// record of a bucket, multipart staging, buckets being created or deleted. A key with a segment
// that starts with it is ErrInvalidKey, and such names are never listed, so none of them can be
// mistaken for an object or reached through a key.
const reservedPrefix = ".s3io-"

const (
	// tempPrefix starts the name of every file that a Put is still writing.
	tempPrefix = reservedPrefix + "put-"
	// tempDir is where writes in progress live: inside a bucket folder, the temp files of Put
	// (renamed into place when complete, so a crash leaves no partial object); directly under the
	// root, buckets being created or deleted. Its name is not a valid bucket name.
	tempDir = reservedPrefix + "tmp"
	// ownerFile, in a bucket folder, records the account that owns the bucket.
	ownerFile = reservedPrefix + "bucket"
	// uploadsDir, in a bucket folder, holds one folder per multipart upload in progress.
	uploadsDir = reservedPrefix + "uploads"
)

// staleTemp is the age after which NewDir removes a leftover temp file (one whose writer died).
const staleTemp = time.Hour

// staleUpload is how long a multipart upload may sit without a new part before NewDir removes it.
const staleUpload = 7 * 24 * time.Hour

// maxKeyLen is the S3 limit on key length, in bytes.
const maxKeyLen = 1024

// putBufSize is the copy buffer Dir.Put uses, and the first buffer
// Remote.Put reads into; cancellation is noticed within one buffer.
const putBufSize = 64 << 10

// Dir stores objects as files in a local folder: object s3://bucket/key is the file
// <root>/bucket/key, and a bucket exists when its folder does.
//
// # Ownership
//
// Every bucket belongs to one account. A bucket created through Tenant.CreateBucket records its
// owner (and region and creation time) in the file .s3io-bucket inside its folder; the folder
// appears under its name only with that record already in it (it is assembled aside and renamed
// into place without replacing anything). A folder without the record, such as one an operator
// made by hand, belongs to the Dir's default account. Because the record lives in the folder,
// every process that shares the folder agrees on it, and moving or removing a bucket folder by
// hand takes its ownership along.
//
// All object access goes through an account's view (Tenant, or Guard). Each call opens the
// bucket folder once, checks the record through that handle, and does everything else relative
// to the handle, so a bucket deleted and re-created by another account in the meantime is never
// written or read through its new owner's folder.
//
// # Files
//
// All access goes through an os.Root, so neither a crafted key nor a symbolic link inside the
// tree can reach files outside root. Keys must be representable as relative file paths: no
// empty, "." or ".." segments, no leading or trailing slash, no backslash or NUL, no segment
// starting with ".s3io-". Because a name cannot be both a file and a folder, Dir cannot hold
// both "a" and "a/b"; the second Put of such a pair fails. Empty folders are not objects and
// are not listed. Listing ignores symbolic links, special files, and names that could not be
// written through a valid key (such as ones containing a backslash).
//
// A Dir is safe for concurrent use. Close releases the root handle.
type Dir struct {
	root *os.Root
	// rootDir is the root folder itself, for renames that must not replace their target.
	rootDir      *os.File
	defaultOwner string
}

// NewDir opens root, which must be an existing folder, as a Dir whose hand-made buckets belong
// to defaultOwner (an account id). It removes leftovers of writers that died: temp files older
// than an hour and multipart uploads idle for seven days.
func NewDir(root, defaultOwner string) (*Dir, error) {
	if defaultOwner == "" {
		return nil, errors.New("object folder: a default owner is required")
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("open object folder: %w", err)
	}
	f, err := r.Open(".")
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("open object folder: %w", err)
	}
	d := &Dir{root: r, rootDir: f, defaultOwner: defaultOwner}
	d.sweep(time.Now())
	return d, nil
}

// Close releases the handle on the root folder. The Dir must not be used afterwards.
func (d *Dir) Close() error {
	return errors.Join(d.rootDir.Close(), d.root.Close())
}

// DefaultOwner returns the account that owns buckets without an owner record.
func (d *Dir) DefaultOwner() string { return d.defaultOwner }

// sweep removes leftovers older than their limits: entries of the root's temp folder and of
// each bucket's temp folder last changed before now-staleTemp, and upload folders last changed
// before now-staleUpload. It is best effort.
func (d *Dir) sweep(now time.Time) {
	removeOld(d.root, tempDir, now.Add(-staleTemp))
	for _, name := range d.bucketNames() {
		br, err := d.root.OpenRoot(name)
		if err != nil {
			continue
		}
		removeOld(br, tempDir, now.Add(-staleTemp))
		removeOld(br, uploadsDir, now.Add(-staleUpload))
		br.Close()
	}
}

// removeOld removes the entries of folder dir of r last modified before cutoff.
func removeOld(r *os.Root, dir string, cutoff time.Time) {
	f, err := r.Open(dir)
	if err != nil {
		return
	}
	entries, _ := f.ReadDir(-1)
	f.Close()
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
			r.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// bucketNames returns the names of the folders under the root that are valid bucket names.
func (d *Dir) bucketNames() []string {
	f, err := d.root.Open(".")
	if err != nil {
		return nil
	}
	entries, _ := f.ReadDir(-1)
	f.Close()
	var names []string
	for _, e := range entries {
		if e.IsDir() && checkBucket(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// dirEntry is a folder entry prepared for ordering by key.
type dirEntry struct {
	name    string
	sortKey string // name, plus "/" for folders
	dir     bool
	size    int64
	modTime time.Time
}

// walk lists the folder of b whose keys start with dirKey ("" or ending in "/"), calling fn for
// each object whose key starts with prefix and sorts after *after. fn may move *after forward
// to skip keys.
//
// Sorting each folder's entries by name, with "/" appended to folder names, yields keys in
// global byte order: entries whose sort keys differ at some byte keep that order in every key
// below them, and the only way one sort key can be a prefix of another is a file name, whose
// single key is then the shorter and so sorts first. The same argument lets walk skip a whole
// folder D when D sorts before *after and is not a prefix of it: every key below D sorts before
// *after too.
func walk(ctx context.Context, b *bucket, dirKey, prefix string, after *string, fn func(Object) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := b.readDir(dirKey)
	if err != nil {
		return err
	}
	for _, e := range entries {
		key := dirKey + e.sortKey
		if e.dir {
			if !strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key) {
				continue
			}
			if *after != "" && key < *after && !strings.HasPrefix(*after, key) {
				continue
			}
			if err := walk(ctx, b, key, prefix, after, fn); err != nil {
				return err
			}
			continue
		}
		if !strings.HasPrefix(key, prefix) || *after != "" && key <= *after {
			continue
		}
		if err := fn(Object{Key: key, Size: e.size, ModTime: e.modTime}); err != nil {
			return err
		}
	}
	return nil
}

// bucket is an open bucket folder and its owner record.
type bucket struct {
	root *os.Root
	info Bucket
}

func (b *bucket) close() { b.root.Close() }

// readDir returns the listable entries of one folder in key order. A folder that vanished since
// its parent was read (a concurrent Delete pruning it) reads as empty.
func (b *bucket) readDir(dirKey string) ([]dirEntry, error) {
	name := "."
	if dirKey != "" {
		name = filepath.FromSlash(strings.TrimSuffix(dirKey, "/"))
	}
	f, err := b.root.Open(name)
	if dirKey != "" && isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list s3://%s/%s: %w", b.info.Name, dirKey, fsFault(err))
	}
	des, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("list s3://%s/%s: %w", b.info.Name, dirKey, fsFault(err))
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
				return nil, fmt.Errorf("list s3://%s/%s%s: %w", b.info.Name, dirKey, de.Name(), fsFault(err))
			}
			entries = append(entries, dirEntry{name: de.Name(), sortKey: de.Name(), size: info.Size(), modTime: info.ModTime()})
		}
	}
	slices.SortFunc(entries, func(a, b dirEntry) int { return cmp.Compare(a.sortKey, b.sortKey) })
	return entries, nil
}

// empty reports whether the bucket holds no object.
func (b *bucket) empty(ctx context.Context) (bool, error) {
	after := ""
	err := walk(ctx, b, "", "", &after, func(Object) error { return errStopWalk })
	if errors.Is(err, errStopWalk) {
		return false, nil
	}
	return err == nil, err
}

var errStopWalk = errors.New("stop walk")

// get opens an object for reading.
func (b *bucket) get(key string) (*os.File, Object, error) {
	rel, err := keyPath(key)
	if err != nil {
		return nil, Object{}, err
	}
	f, err := b.root.Open(rel)
	if err != nil {
		if isNotExist(err) {
			return nil, Object{}, fmt.Errorf("s3://%s/%s: %w", b.info.Name, key, ErrNotFound)
		}
		return nil, Object{}, fmt.Errorf("open s3://%s/%s: %w", b.info.Name, key, fsFault(err))
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		f.Close()
		return nil, Object{}, fmt.Errorf("s3://%s/%s: %w", b.info.Name, key, ErrNotFound)
	}
	if err != nil {
		f.Close()
		return nil, Object{}, fmt.Errorf("open s3://%s/%s: %w", b.info.Name, key, fsFault(err))
	}
	return f, Object{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// put writes an object from body: to a temp file in the bucket's temp folder, synced, then
// renamed over the target, so readers see either the old object or the complete new one, and
// a crash mid-write leaves no partial object.
func (b *bucket) put(ctx context.Context, key string, body io.Reader) (obj Object, err error) {
	rel, err := keyPath(key)
	if err != nil {
		return Object{}, err
	}
	f, tmp, err := createTemp(b.root, filepath.Dir(rel))
	if err != nil {
		return Object{}, fmt.Errorf("put s3://%s/%s: %w", b.info.Name, key, fsFault(err))
	}
	defer func() {
		if err != nil {
			f.Close()
			b.root.Remove(tmp)
			b.prune(key)
			err = fmt.Errorf("put s3://%s/%s: %w", b.info.Name, key, fsFault(err))
		}
	}()
	if _, err := copyContext(ctx, f, body, make([]byte, putBufSize)); err != nil {
		return Object{}, err
	}
	return b.commit(ctx, f, tmp, key, rel)
}

// commit syncs and closes the temp file f and renames it to the object's path.
func (b *bucket) commit(ctx context.Context, f *os.File, tmp, key, rel string) (Object, error) {
	if err := f.Sync(); err != nil {
		return Object{}, err
	}
	st, err := f.Stat()
	if err != nil {
		return Object{}, err
	}
	if err := f.Close(); err != nil {
		return Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return Object{}, err
	}
	if err := b.root.Rename(tmp, rel); err != nil {
		if st, serr := b.root.Lstat(rel); serr == nil && st.IsDir() {
			return Object{}, fmt.Errorf("%w: objects exist below %s/", ErrKeyConflict, key)
		}
		return Object{}, err
	}
	return Object{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// createTemp creates the folder dir (relative to the bucket; never the bucket itself, which r
// is a handle on) and a fresh temp file in the bucket's temp folder. It retries when a
// concurrent Delete prunes a folder between the two steps.
func createTemp(r *os.Root, dir string) (*os.File, string, error) {
	var err error
	for range 3 {
		if dir != "." {
			if err = r.MkdirAll(dir, 0o777); err != nil {
				if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
					return nil, "", fmt.Errorf("%w: %w", ErrKeyConflict, err)
				}
				return nil, "", err
			}
		}
		if err = r.MkdirAll(tempDir, 0o777); err != nil {
			return nil, "", err
		}
		tmp := filepath.Join(tempDir, tempPrefix+rand.Text())
		var f *os.File
		f, err = r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if err == nil {
			return f, tmp, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", err
		}
	}
	return nil, "", err
}

// delete removes an object and the folders its deletion left empty. Deleting a missing object
// is not an error.
func (b *bucket) delete(ctx context.Context, key string) error {
	rel, err := keyPath(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := b.root.Lstat(rel)
	if isNotExist(err) || err == nil && st.IsDir() {
		return nil
	}
	if err == nil {
		err = b.root.Remove(rel)
	}
	if err != nil && !isNotExist(err) {
		return fmt.Errorf("delete s3://%s/%s: %w", b.info.Name, key, fsFault(err))
	}
	b.prune(key)
	return nil
}

// prune removes the empty folders above key, deepest first, stopping at the bucket folder or at
// the first folder that still has entries. It is best effort: a folder that cannot be removed
// is simply left in place.
func (b *bucket) prune(key string) {
	for dir := pathDir(key); dir != ""; dir = pathDir(dir) {
		name := filepath.FromSlash(dir)
		st, err := b.root.Lstat(name)
		if err != nil || !st.IsDir() || b.root.Remove(name) != nil {
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

// keyPath validates key and returns the object's file name relative to its bucket folder.
func keyPath(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return filepath.FromSlash(key), nil
}

// checkKey rejects keys that are not a plain relative path of non-empty segments, so that no
// key can name a folder, a reserved file, or anything outside its bucket.
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

// checkSegment rejects one slash-separated part of a key that cannot be a file or folder name
// of its own.
func checkSegment(seg string) error {
	switch {
	case seg == "":
		return errors.New("empty segment")
	case seg == "." || seg == "..":
		return fmt.Errorf("segment %q", seg)
	case strings.HasPrefix(seg, reservedPrefix):
		return fmt.Errorf("reserved segment prefix %q", reservedPrefix)
	case strings.ContainsAny(seg, "\\\x00"):
		return errors.New("backslash or NUL")
	}
	return nil
}

// fsFault adds to a file system error the sentinel of the fault it is, if it is one that can
// clear: a folder the process may not read or write (EACCES, EPERM, EROFS) is
// ErrPermissionDenied, a full disk (ENOSPC, EDQUOT) is ErrNoSpace.
func fsFault(err error) error {
	switch {
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w: %w", ErrPermissionDenied, err)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: %w", ErrNoSpace, err)
	}
	return err
}

// isNotExist reports whether err means the path is absent, including a path whose parent is a
// file rather than a folder.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
