package s3io

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Multipart uploads of a Dir are staged in the bucket: <bucket>/.s3io-uploads/<upload id>/ holds
// the file "key" (the object key the upload is for) and one file per uploaded part, named
// <part number, 5 digits>-<hex MD5 of the part>. The part's ETag is in its name, so a part
// uploaded twice leaves two files and completion takes the one whose ETag the client names.
// Completion concatenates the parts into a temp file and renames it into place like Put; the
// staging folder is removed on completion or abort, or by NewDir after seven idle days.

const (
	// MinPartSize is the smallest part, in bytes, other than the last of an upload.
	MinPartSize = 5 << 20
	// MaxPartNumber is the largest part number.
	MaxPartNumber = 10000
	// uploadKeyFile, in an upload's folder, holds the object key.
	uploadKeyFile = "key"
)

// Part is an uploaded part of a multipart upload.
type Part struct {
	Number int
	// ETag is the hex MD5 of the part, without quotes.
	ETag string
	Size int64
}

// CreateUpload starts a multipart upload of key and returns its id.
func (t *Tenant) CreateUpload(ctx context.Context, bucket, key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	b, err := t.open(bucket)
	if err != nil {
		return "", err
	}
	defer b.close()
	id := rand.Text()
	dir := filepath.Join(uploadsDir, id)
	if err := b.root.MkdirAll(dir, 0o777); err != nil {
		return "", fmt.Errorf("create upload s3://%s/%s: %w", bucket, key, err)
	}
	if err := writeFile(b.root, filepath.Join(dir, uploadKeyFile), []byte(key)); err != nil {
		b.root.RemoveAll(dir)
		return "", fmt.Errorf("create upload s3://%s/%s: %w", bucket, key, err)
	}
	return id, nil
}

// upload returns the staging folder of upload id of key in b.
func (b *bucket) upload(key, id string) (string, error) {
	noSuch := fmt.Errorf("upload %s of s3://%s/%s: %w", id, b.info.Name, key, ErrNoSuchUpload)
	if !validUploadID(id) {
		return "", noSuch
	}
	dir := filepath.Join(uploadsDir, id)
	f, err := b.root.Open(filepath.Join(dir, uploadKeyFile))
	if isNotExist(err) {
		return "", noSuch
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	got, err := io.ReadAll(io.LimitReader(f, maxKeyLen+1))
	if err != nil {
		return "", err
	}
	if string(got) != key {
		return "", noSuch
	}
	return dir, nil
}

// validUploadID accepts the ids CreateUpload makes: 26 characters of the base32 alphabet.
func validUploadID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for i := range len(id) {
		if c := id[i]; (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// UploadPart stores part n (1 to MaxPartNumber) of an upload from body, streaming it to disk.
func (t *Tenant) UploadPart(ctx context.Context, bucket, key, id string, n int, body io.Reader) (Part, error) {
	if n < 1 || n > MaxPartNumber {
		return Part{}, fmt.Errorf("%w: part number %d is not between 1 and %d", ErrInvalidPart, n, MaxPartNumber)
	}
	if err := checkKey(key); err != nil {
		return Part{}, err
	}
	b, err := t.open(bucket)
	if err != nil {
		return Part{}, err
	}
	defer b.close()
	dir, err := b.upload(key, id)
	if err != nil {
		return Part{}, err
	}
	tmp := filepath.Join(dir, tempPrefix+rand.Text())
	f, err := b.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return Part{}, fmt.Errorf("upload part %d of s3://%s/%s: %w", n, bucket, key, err)
	}
	h := md5.New()
	size, err := copyContext(ctx, io.MultiWriter(f, h), body, make([]byte, putBufSize))
	if err == nil {
		err = f.Sync()
	}
	err = errors.Join(err, f.Close())
	etag := hex.EncodeToString(h.Sum(nil))
	if err == nil {
		err = b.root.Rename(tmp, filepath.Join(dir, partName(n, etag)))
	}
	if err != nil {
		b.root.Remove(tmp)
		return Part{}, fmt.Errorf("upload part %d of s3://%s/%s: %w", n, bucket, key, err)
	}
	return Part{Number: n, ETag: etag, Size: size}, nil
}

func partName(n int, etag string) string { return fmt.Sprintf("%05d-%s", n, etag) }

// CompleteUpload assembles the named parts, in strictly ascending part order, into the object
// and ends the upload. Each part must have been uploaded with that ETag (ErrInvalidPart) and
// all but the last must be at least MinPartSize (ErrPartTooSmall).
func (t *Tenant) CompleteUpload(ctx context.Context, bucket, key, id string, parts []Part) (obj Object, err error) {
	if len(parts) == 0 {
		return Object{}, fmt.Errorf("%w: no parts given", ErrInvalidPart)
	}
	if err := checkKey(key); err != nil {
		return Object{}, err
	}
	b, err := t.open(bucket)
	if err != nil {
		return Object{}, err
	}
	defer b.close()
	dir, err := b.upload(key, id)
	if err != nil {
		return Object{}, err
	}
	for i := 1; i < len(parts); i++ {
		if parts[i].Number <= parts[i-1].Number {
			return Object{}, fmt.Errorf("%w: parts must be listed in ascending order", ErrInvalidPart)
		}
	}
	files := make([]string, len(parts))
	for i, p := range parts {
		etag := strings.ToLower(strings.Trim(p.ETag, `"`))
		notUploaded := fmt.Errorf("%w: part %d with ETag %s was not uploaded", ErrInvalidPart, p.Number, p.ETag)
		if _, err := hex.DecodeString(etag); err != nil || len(etag) != 32 {
			return Object{}, notUploaded
		}
		files[i] = filepath.Join(dir, partName(p.Number, etag))
		st, err := b.root.Stat(files[i])
		if isNotExist(err) {
			return Object{}, notUploaded
		}
		if err != nil {
			return Object{}, err
		}
		if i < len(parts)-1 && st.Size() < MinPartSize {
			return Object{}, fmt.Errorf("%w: part %d is %d bytes", ErrPartTooSmall, p.Number, st.Size())
		}
	}
	rel, err := keyPath(key)
	if err != nil {
		return Object{}, err
	}
	f, tmp, err := createTemp(b.root, filepath.Dir(rel))
	if err != nil {
		return Object{}, fmt.Errorf("complete s3://%s/%s: %w", bucket, key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			b.root.Remove(tmp)
			b.prune(key)
			err = fmt.Errorf("complete s3://%s/%s: %w", bucket, key, err)
		}
	}()
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			return Object{}, err
		}
		pf, err := b.root.Open(name)
		if err != nil {
			return Object{}, err
		}
		_, err = io.Copy(f, pf) // copy_file_range between the two files where the kernel can
		pf.Close()
		if err != nil {
			return Object{}, err
		}
	}
	obj, err = b.commit(ctx, f, tmp, key, rel)
	if err != nil {
		return Object{}, err
	}
	b.root.RemoveAll(dir)
	return obj, nil
}

// AbortUpload ends an upload and removes its parts.
func (t *Tenant) AbortUpload(ctx context.Context, bucket, key, id string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	b, err := t.open(bucket)
	if err != nil {
		return err
	}
	defer b.close()
	dir, err := b.upload(key, id)
	if err != nil {
		return err
	}
	if err := b.root.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("abort upload %s: %w", id, err)
	}
	return nil
}
