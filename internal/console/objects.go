package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fhirlake/fhirlake/internal/s3io"
)

// Storage is object storage as one account sees it: only the buckets the account owns, another
// account's answering s3io.ErrAccessDenied. s3io.Tenant is one.
type Storage interface {
	// Buckets lists the account's buckets.
	Buckets() ([]s3io.Bucket, error)
	// CreateBucket creates a bucket owned by the account, in region.
	CreateBucket(name, region string) error
	// Walk calls fn for the objects under prefix that sort after after, in key order; a key
	// returned by fn makes the walk resume after it (so a listing skips a common prefix).
	Walk(ctx context.Context, bucket, prefix, after string, fn func(s3io.Object) (string, error)) error
	// List, Open and Put behave as s3io.Store's methods of the same names.
	List(ctx context.Context, bucket, prefix string, fn func(s3io.Object) error) error
	Open(ctx context.Context, bucket, key string, offset int64) (io.ReadCloser, error)
	Put(ctx context.Context, bucket, key string, body io.Reader) error
}

// objectError is the one translation of storage errors into console API errors; internal error
// text is logged, not sent.
func (c *Console) objectError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, s3io.ErrNoSuchBucket):
		writeError(w, http.StatusNotFound, "NoSuchBucket", "the bucket does not exist")
	case errors.Is(err, s3io.ErrNotFound):
		writeError(w, http.StatusNotFound, "NoSuchKey", "the object does not exist")
	case errors.Is(err, s3io.ErrInvalidBucket):
		writeError(w, http.StatusBadRequest, "InvalidBucketName", "bucket names are 3 to 63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit")
	case errors.Is(err, s3io.ErrInvalidKey):
		writeError(w, http.StatusBadRequest, "InvalidKey", "object keys must be relative paths without empty, '.' or '..' segments")
	case errors.Is(err, s3io.ErrAccessDenied):
		writeError(w, http.StatusForbidden, "AccessDenied", "the bucket belongs to another account")
	case errors.Is(err, s3io.ErrBucketExists):
		writeError(w, http.StatusConflict, "BucketAlreadyExists", "the bucket name is taken by another account")
	case errors.Is(err, s3io.ErrBucketOwned):
		writeError(w, http.StatusConflict, "BucketAlreadyOwnedByYou", "you already own this bucket")
	case errors.Is(err, s3io.ErrKeyConflict):
		writeError(w, http.StatusConflict, "KeyConflict", "the key conflicts with an existing object (a key cannot be both an object and a folder)")
	case errors.Is(err, errTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "EntityTooLarge", "the object is larger than the console uploads")
	default:
		c.opt.Logger.Error("console object storage", "err", err)
		writeError(w, http.StatusInternalServerError, "InternalError", "an internal error occurred")
	}
}

var errTooLarge = errors.New("upload too large")

// storage returns the session's view of object storage, or answers that the browser is off.
func (c *Console) storage(w http.ResponseWriter, ss *session) Storage {
	if c.opt.Objects == nil {
		writeError(w, http.StatusNotImplemented, "NotSupported", "the S3 browser is not available with this storage")
		return nil
	}
	return c.opt.Objects(ss.id.AccountID)
}

func (c *Console) buckets(w http.ResponseWriter, r *http.Request, ss *session) {
	objs := c.storage(w, ss)
	if objs == nil {
		return
	}
	bs, err := objs.Buckets()
	if err != nil {
		c.objectError(w, err)
		return
	}
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Name
	}
	sort.Strings(names)
	writeJSON(w, http.StatusOK, map[string]any{"buckets": names})
}

func (c *Console) createBucket(w http.ResponseWriter, r *http.Request, ss *session) {
	objs := c.storage(w, ss)
	if objs == nil {
		return
	}
	var in struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequest", `the body must be {"name": "<bucket>"}`)
		return
	}
	if err := objs.CreateBucket(in.Name, ss.id.Region); err != nil {
		c.objectError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": in.Name})
}

// listEntry is an object of a listing.
type listEntry struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
}

// objects answers one page of a listing: objects and, with a delimiter, the common prefixes
// ("folders"), in key order, at most max entries; next continues after the last entry.
func (c *Console) objects(w http.ResponseWriter, r *http.Request, ss *session) {
	objs := c.storage(w, ss)
	if objs == nil {
		return
	}
	q := r.URL.Query()
	bucket, prefix, delim, after := q.Get("bucket"), q.Get("prefix"), q.Get("delimiter"), q.Get("after")
	max, ok := intParam(q.Get("max"), 1000, 1, 1000)
	if !ok {
		writeError(w, http.StatusBadRequest, "InvalidArgument", "max must be a number from 1 to 1000")
		return
	}
	out := struct {
		Objects  []listEntry `json:"objects"`
		Prefixes []string    `json:"prefixes"`
		Next     string      `json:"next,omitempty"`
	}{Objects: []listEntry{}, Prefixes: []string{}}
	// The walk resumes strictly after the previous page's last entry; when that was a common
	// prefix, after everything under it.
	from := after
	if delim != "" && strings.HasSuffix(after, delim) {
		from = after + "\xff"
	}
	lastEntry := ""
	err := objs.Walk(r.Context(), bucket, prefix, from, func(o s3io.Object) (string, error) {
		entry, isPrefix := o.Key, false
		if delim != "" {
			if i := strings.Index(o.Key[len(prefix):], delim); i >= 0 {
				entry, isPrefix = o.Key[:len(prefix)+i+len(delim)], true
			}
		}
		if len(out.Objects)+len(out.Prefixes) == max {
			out.Next = lastEntry
			return "", errStop
		}
		lastEntry = entry
		if isPrefix {
			out.Prefixes = append(out.Prefixes, entry)
			return entry + "\xff", nil // skip the rest of the common prefix
		}
		out.Objects = append(out.Objects, listEntry{Key: o.Key, Size: o.Size})
		return "", nil
	})
	if err != nil && !errors.Is(err, errStop) {
		c.objectError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// maxRead bounds what one object or lines request returns.
const maxRead = 4 << 20

// getObject answers up to 4 MiB of an object from offset, as an inert download: the browser code
// shows it as text. X-Next-Offset tells where the rest starts when there is more.
func (c *Console) getObject(w http.ResponseWriter, r *http.Request, ss *session) {
	objs := c.storage(w, ss)
	if objs == nil {
		return
	}
	q := r.URL.Query()
	offset, ok := int64Param(q.Get("offset"))
	if !ok {
		writeError(w, http.StatusBadRequest, "InvalidArgument", "offset must be a byte offset")
		return
	}
	rc, err := objs.Open(r.Context(), q.Get("bucket"), q.Get("key"), offset)
	if err != nil {
		c.objectError(w, err)
		return
	}
	defer rc.Close()
	buf, err := io.ReadAll(io.LimitReader(rc, maxRead+1))
	if err != nil {
		c.objectError(w, err)
		return
	}
	h := w.Header()
	if len(buf) > maxRead {
		buf = buf[:maxRead]
		h.Set("X-Next-Offset", strconv.FormatInt(offset+maxRead, 10))
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", "attachment")
	h.Set("Content-Security-Policy", "sandbox")
	w.Write(buf)
}

func (c *Console) putObject(w http.ResponseWriter, r *http.Request, ss *session) {
	objs := c.storage(w, ss)
	if objs == nil {
		return
	}
	if r.ContentLength > c.opt.MaxUpload {
		c.objectError(w, errTooLarge)
		return
	}
	q := r.URL.Query()
	body := http.MaxBytesReader(w, r.Body, c.opt.MaxUpload)
	if err := objs.Put(r.Context(), q.Get("bucket"), q.Get("key"), body); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			err = errTooLarge
		}
		c.objectError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"bucket": q.Get("bucket"), "key": q.Get("key")})
}

// lineEntry is one line of an object.
type lineEntry struct {
	Offset    int64  `json:"offset"` // byte offset of the line in the object
	Text      string `json:"text"`
	Truncated bool   `json:"truncated,omitempty"` // the line was longer than maxLine
}

const maxLine = 1 << 20

// lines answers up to max lines (default 100, at most 1000, and 4 MiB) of an object from a byte
// offset, for the report viewer. Invalid UTF-8 is replaced; next is the offset of the line after
// the last one returned, absent at the end.
func (c *Console) lines(w http.ResponseWriter, r *http.Request, ss *session) {
	objs := c.storage(w, ss)
	if objs == nil {
		return
	}
	q := r.URL.Query()
	offset, ok := int64Param(q.Get("offset"))
	max, ok2 := intParam(q.Get("max"), 100, 1, 1000)
	if !ok || !ok2 {
		writeError(w, http.StatusBadRequest, "InvalidArgument", "offset must be a byte offset and max a number from 1 to 1000")
		return
	}
	rc, err := objs.Open(r.Context(), q.Get("bucket"), q.Get("key"), offset)
	if err != nil {
		c.objectError(w, err)
		return
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	out := struct {
		Lines []lineEntry `json:"lines"`
		Next  *int64      `json:"next,omitempty"`
	}{Lines: []lineEntry{}}
	pos, total := offset, 0
	for len(out.Lines) < max && total < maxRead {
		line, n, err := readLine(br)
		if n == 0 && err != nil {
			if err != io.EOF {
				c.objectError(w, err)
				return
			}
			break
		}
		text := bytes.TrimRight(line, "\r\n")
		e := lineEntry{Offset: pos, Truncated: n > int64(len(line))}
		if !utf8.Valid(text) {
			text = bytes.ToValidUTF8(text, []byte("\uFFFD"))
		}
		e.Text = string(text)
		out.Lines = append(out.Lines, e)
		pos += n
		total += len(line)
		if err == io.EOF {
			break
		}
	}
	if _, err := br.Peek(1); err == nil {
		out.Next = &pos
	}
	writeJSON(w, http.StatusOK, out)
}

// readLine reads one line of any length, keeping at most maxLine bytes of it; n is the length
// consumed, newline included.
func readLine(br *bufio.Reader) (line []byte, n int64, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		n += int64(len(chunk))
		if room := maxLine - len(line); room > 0 {
			line = append(line, chunk[:min(room, len(chunk))]...)
		}
		if err != bufio.ErrBufferFull {
			return line, n, err
		}
	}
}

// usage answers how many objects and bytes an import of the s3:// URI in uri would read, with the
// importer's rule for a prefix (a folder, or one object named exactly), for progress estimates.
func (c *Console) usage(w http.ResponseWriter, r *http.Request, ss *session) {
	objs := c.storage(w, ss)
	if objs == nil {
		return
	}
	bucket, prefix, err := s3io.ParseURI(r.URL.Query().Get("uri"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidArgument", "uri must be an s3://bucket/prefix URI")
		return
	}
	var n, size int64
	const limit = 100000
	err = objs.List(r.Context(), bucket, prefix, func(o s3io.Object) error {
		if strings.HasSuffix(o.Key, "/") {
			return nil
		}
		if prefix != "" && !strings.HasSuffix(prefix, "/") && o.Key != prefix && !strings.HasPrefix(o.Key, prefix+"/") {
			return nil
		}
		n++
		size += o.Size
		if n == limit {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		c.objectError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"objects": n, "bytes": size, "complete": n < limit})
}

func intParam(s string, def, lo, hi int) (int, bool) {
	if s == "" {
		return def, true
	}
	v, err := strconv.Atoi(s)
	return v, err == nil && v >= lo && v <= hi
}

func int64Param(s string) (int64, bool) {
	if s == "" {
		return 0, true
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v >= 0
}
