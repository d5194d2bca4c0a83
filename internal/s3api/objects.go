package s3api

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/fhirlake/fhirlake/internal/s3io"
	"github.com/fhirlake/fhirlake/internal/sigv4"
)

// etag is the entity tag of an object: an opaque validator of its size and modification time
// (S3 documents that an ETag may or may not be an MD5 of the data; the embedded folder stores
// no digest, and files may be changed by hand). It changes whenever the object is rewritten.
func etag(o s3io.Object) string {
	sum := md5.Sum([]byte(strconv.FormatInt(o.Size, 10) + ":" + strconv.FormatInt(o.ModTime.UnixNano(), 10)))
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// body returns the request body, limited to the maximum object size, with Content-MD5 and
// x-amz-checksum-* headers verified as it is read.
func (h *Handler) body(q *request) (io.Reader, error) {
	if q.r.ContentLength > h.cfg.MaxObjectSize {
		return nil, errEntityTooLarge
	}
	body, err := sigv4.VerifyChecksums(q.r.Header, q.r.Body)
	if err != nil {
		return nil, err
	}
	return &limitReader{r: body, left: h.cfg.MaxObjectSize}, nil
}

// limitReader fails with EntityTooLarge past its limit (io.LimitReader would end silently).
type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, errEntityTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, errEntityTooLarge
	}
	return n, err
}

func (h *Handler) putObject(q *request) error {
	body, err := h.body(q)
	if err != nil {
		return err
	}
	o, err := q.st.PutObject(q.r.Context(), q.bucket, q.key, body)
	if err != nil {
		return err
	}
	q.w.Header().Set("ETag", etag(o))
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// contentType guesses a type from the key's extension.
func contentType(key string) string {
	switch ext := strings.ToLower(path.Ext(key)); ext {
	case ".ndjson":
		return "application/fhir+ndjson"
	case "":
	default:
		if t := mime.TypeByExtension(ext); t != "" {
			return t
		}
	}
	return "binary/octet-stream"
}

func (h *Handler) getObject(q *request, head bool) error {
	f, o, err := q.st.Get(q.r.Context(), q.bucket, q.key)
	if err != nil {
		return err
	}
	defer f.Close()
	hd := q.w.Header()
	tag := etag(o)
	hd.Set("ETag", tag)
	hd.Set("Last-Modified", httpTime(o.ModTime))
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("Content-Type", contentType(q.key))
	if m := q.r.Header.Get("If-None-Match"); m != "" && (m == tag || m == "*") {
		q.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if m := q.r.Header.Get("If-Match"); m != "" && m != tag && m != "*" {
		return &apiError{http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold"}
	}
	start, length, partial, err := parseRange(q.r.Header.Get("Range"), o.Size)
	if err != nil {
		hd.Set("Content-Range", "bytes */"+strconv.FormatInt(o.Size, 10))
		return err
	}
	hd.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, o.Size))
		status = http.StatusPartialContent
	}
	q.w.WriteHeader(status)
	if head || length == 0 {
		return nil
	}
	if start > 0 {
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			return nil // headers are out; the client sees a short body
		}
	}
	io.CopyN(q.w, f, length)
	return nil
}

// parseRange reads a single "bytes=first-last", "bytes=first-" or "bytes=-suffix" range. An
// absent or unparsable header means the whole object (as S3 does); a range starting past the
// end is InvalidRange.
func parseRange(h string, size int64) (start, length int64, partial bool, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false, nil
	}
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return 0, size, false, nil
		}
		if n == 0 {
			return 0, 0, false, errInvalidRange
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return 0, size, false, nil
	}
	if a >= size {
		return 0, 0, false, errInvalidRange
	}
	b := size - 1
	if last != "" {
		v, err := strconv.ParseInt(last, 10, 64)
		if err != nil || v < a {
			return 0, size, false, nil
		}
		b = min(v, size-1)
	}
	return a, b - a + 1, true, nil
}

func (h *Handler) deleteObject(q *request) error {
	if err := q.st.Delete(q.r.Context(), q.bucket, q.key); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

type deleteRequest struct {
	Quiet   bool `xml:"Quiet"`
	Objects []struct {
		Key string `xml:"Key"`
	} `xml:"Object"`
}

type deleteResult struct {
	XMLName xml.Name        `xml:"DeleteResult"`
	NS      string          `xml:"xmlns,attr"`
	Deleted []deletedObject `xml:"Deleted"`
	Errors  []deleteError   `xml:"Error"`
}

type deletedObject struct {
	Key string `xml:"Key"`
}

type deleteError struct {
	Key     string `xml:"Key"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// maxDeleteKeys is S3's limit of keys per DeleteObjects request.
const maxDeleteKeys = 1000

func (h *Handler) deleteObjects(q *request) error {
	body, err := sigv4.VerifyChecksums(q.r.Header, q.r.Body)
	if err != nil {
		return err
	}
	q.r.Body = io.NopCloser(body)
	var in deleteRequest
	if err := readXML(q.r, &in); err != nil {
		return err
	}
	if len(in.Objects) == 0 || len(in.Objects) > maxDeleteKeys {
		return malformedXML()
	}
	// A bucket of another account is refused as a whole, like S3 does.
	if _, err := q.st.Bucket(q.bucket); err != nil {
		return err
	}
	out := deleteResult{NS: s3NS}
	for _, o := range in.Objects {
		err := q.st.Delete(q.r.Context(), q.bucket, o.Key)
		if err != nil {
			e := h.translate(err)
			out.Errors = append(out.Errors, deleteError{Key: o.Key, Code: e.code, Message: e.msg})
			continue
		}
		if !in.Quiet {
			out.Deleted = append(out.Deleted, deletedObject{Key: o.Key})
		}
	}
	writeXML(q.w, http.StatusOK, out)
	return nil
}

type copyObjectResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	NS           string   `xml:"xmlns,attr"`
	ETag         string   `xml:"ETag"`
	LastModified string   `xml:"LastModified"`
}

func (h *Handler) copyObject(q *request) error {
	src, err := url.PathUnescape(q.r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return invalidArgument("x-amz-copy-source is not validly percent-encoded")
	}
	src, _, _ = strings.Cut(src, "?versionId=")
	srcBucket, srcKey, ok := strings.Cut(strings.TrimPrefix(src, "/"), "/")
	if !ok || srcKey == "" {
		return invalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	o, err := q.st.Copy(q.r.Context(), srcBucket, srcKey, q.bucket, q.key)
	if err != nil {
		return err
	}
	writeXML(q.w, http.StatusOK, copyObjectResult{NS: s3NS, ETag: etag(o), LastModified: o.ModTime.UTC().Format(timeFormat)})
	return nil
}

var errStopList = errors.New("stop listing")
