package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/aws/aws-sdk-go-v2/service/healthlake/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// s3Client returns an S3 client of the service signing as key/secret, path-style.
func (ts *testServer) s3Client(key, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ts.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
	})
}

// s3Code returns the S3 error code and HTTP status of err.
func s3Code(err error) (string, int) {
	var api smithy.APIError
	var resp *smithyhttp.ResponseError
	code, status := "", 0
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	if errors.As(err, &resp) {
		status = resp.HTTPStatusCode()
	}
	return code, status
}

func mustS3(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantS3Error(t testing.TB, err error, code string, status int, what string) {
	t.Helper()
	got, gotStatus := s3Code(err)
	if got != code || gotStatus != status {
		t.Errorf("%s: error %v (code %q, status %d), want %s %d", what, err, got, gotStatus, code, status)
	}
}

func getBody(t testing.TB, c *s3.Client, bucket, key string, rng string) []byte {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: &bucket, Key: &key}
	if rng != "" {
		in.Range = &rng
	}
	out, err := c.GetObject(context.Background(), in)
	mustS3(t, err, "GetObject "+key)
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	mustS3(t, err, "read "+key)
	return b
}

// TestS3APIOperations drives every supported operation with aws-sdk-go-v2's S3 client against the
// running service.
func TestS3APIOperations(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	ctx := context.Background()
	c := ts.s3Client("test", "test")
	other := ts.s3Client(otherKey, otherSecret)
	bkt := aws.String("sdk-bucket")

	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bkt})
	mustS3(t, err, "CreateBucket")
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bkt})
	wantS3Error(t, err, "BucketAlreadyOwnedByYou", 409, "CreateBucket again")
	_, err = other.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bkt})
	wantS3Error(t, err, "BucketAlreadyExists", 409, "CreateBucket by another account")
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Bad_Name")})
	wantS3Error(t, err, "InvalidBucketName", 400, "CreateBucket with a bad name")
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bkt})
	mustS3(t, err, "HeadBucket")
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("no-such-bucket")})
	wantS3Error(t, err, "NotFound", 404, "HeadBucket of a missing bucket")
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	mustS3(t, err, "ListBuckets")
	if len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != *bkt {
		t.Errorf("ListBuckets = %+v", lb.Buckets)
	}
	if lb, _ := other.ListBuckets(ctx, &s3.ListBucketsInput{}); lb == nil || len(lb.Buckets) != 0 {
		t.Errorf("another account lists %+v", lb)
	}
	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: bkt})
	mustS3(t, err, "GetBucketLocation")
	if loc.LocationConstraint != "" {
		t.Errorf("location = %q, want us-east-1's empty constraint", loc.LocationConstraint)
	}

	// PutObject of keys that need escaping, with the SDK's default checksum.
	keys := []string{"dir/a.ndjson", "dir/b c+d!.ndjson", "dir/sub/x.ndjson", "dir/sub/y.ndjson", "dir2/z", "top", "ünï/ç"}
	for i, k := range keys {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bkt, Key: aws.String(k), Body: strings.NewReader(fmt.Sprintf("body-%d-0123456789", i))})
		mustS3(t, err, "PutObject "+k)
	}
	if got := string(getBody(t, c, *bkt, "dir/b c+d!.ndjson", "")); got != "body-1-0123456789" {
		t.Errorf("GetObject = %q", got)
	}
	if got := string(getBody(t, c, *bkt, "top", "bytes=5-8")); got != "5-01" {
		t.Errorf("GetObject range 5-8 = %q", got)
	}
	if got := string(getBody(t, c, *bkt, "top", "bytes=-4")); got != "6789" {
		t.Errorf("GetObject suffix range = %q", got)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: bkt, Key: aws.String("top"), Range: aws.String("bytes=500-")})
	wantS3Error(t, err, "InvalidRange", 416, "range past the end")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: bkt, Key: aws.String("missing")})
	wantS3Error(t, err, "NoSuchKey", 404, "GetObject of a missing key")
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bkt, Key: aws.String("top")})
	mustS3(t, err, "HeadObject")
	if aws.ToInt64(h.ContentLength) != 17 || aws.ToString(h.ETag) == "" || h.LastModified == nil {
		t.Errorf("HeadObject = %d %q %v", aws.ToInt64(h.ContentLength), aws.ToString(h.ETag), h.LastModified)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: bkt, Key: aws.String("../escape"), Body: strings.NewReader("x")})
	if _, status := s3Code(err); status != 400 {
		t.Errorf("PutObject of ../escape: %v, want 400", err)
	}

	// Delimiter listing and continuation.
	lo, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bkt, Prefix: aws.String("dir/"), Delimiter: aws.String("/")})
	mustS3(t, err, "ListObjectsV2 delimiter")
	var got []string
	for _, o := range lo.Contents {
		got = append(got, aws.ToString(o.Key))
	}
	for _, p := range lo.CommonPrefixes {
		got = append(got, "prefix:"+aws.ToString(p.Prefix))
	}
	if want := []string{"dir/a.ndjson", "dir/b c+d!.ndjson", "prefix:dir/sub/"}; !slices.Equal(got, want) {
		t.Errorf("delimiter listing = %q, want %q", got, want)
	}
	lo, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bkt, Delimiter: aws.String("/")})
	mustS3(t, err, "ListObjectsV2 top")
	if len(lo.Contents) != 1 || len(lo.CommonPrefixes) != 3 {
		t.Errorf("top-level listing: %d keys, %d prefixes; want 1 and 3", len(lo.Contents), len(lo.CommonPrefixes))
	}
	for _, delim := range []string{"", "/"} {
		var all []string
		pages := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: bkt, MaxKeys: aws.Int32(2), Delimiter: aws.String(delim)})
		n := 0
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			mustS3(t, err, "ListObjectsV2 page")
			n++
			for _, o := range page.Contents {
				all = append(all, aws.ToString(o.Key))
			}
			for _, p := range page.CommonPrefixes {
				all = append(all, aws.ToString(p.Prefix))
			}
		}
		want := slices.Clone(keys)
		if delim == "/" {
			want = []string{"dir/", "dir2/", "top", "ünï/"}
		}
		if !slices.Equal(all, want) || n != (len(want)+1)/2 {
			t.Errorf("paged listing (delimiter %q) in %d pages = %q, want %q", delim, n, all, want)
		}
	}
	l1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: bkt, Prefix: aws.String("dir/sub/")})
	mustS3(t, err, "ListObjects")
	if len(l1.Contents) != 2 {
		t.Errorf("ListObjects = %d keys", len(l1.Contents))
	}

	// Copy and batch delete.
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bkt, Key: aws.String("copy/of b"), CopySource: aws.String(*bkt + "/dir/b%20c%2Bd%21.ndjson")})
	mustS3(t, err, "CopyObject")
	if got := string(getBody(t, c, *bkt, "copy/of b", "")); got != "body-1-0123456789" {
		t.Errorf("copied object = %q", got)
	}
	del, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: bkt, Delete: &s3types.Delete{Objects: []s3types.ObjectIdentifier{
		{Key: aws.String("dir2/z")}, {Key: aws.String("copy/of b")}, {Key: aws.String("never-was")}}}})
	mustS3(t, err, "DeleteObjects")
	if len(del.Deleted) != 3 || len(del.Errors) != 0 {
		t.Errorf("DeleteObjects: %d deleted, %d errors", len(del.Deleted), len(del.Errors))
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bkt, Key: aws.String("top")})
	mustS3(t, err, "DeleteObject")
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bkt, Key: aws.String("top")}); err == nil {
		t.Error("deleted object still there")
	}

	// Another account is refused everything on this bucket.
	for name, err := range map[string]error{
		"HeadBucket": func() error { _, err := other.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bkt}); return err }(),
		"GetObject": func() error {
			_, err := other.GetObject(ctx, &s3.GetObjectInput{Bucket: bkt, Key: aws.String("dir/a.ndjson")})
			return err
		}(),
		"PutObject": func() error {
			_, err := other.PutObject(ctx, &s3.PutObjectInput{Bucket: bkt, Key: aws.String("planted"), Body: strings.NewReader("x")})
			return err
		}(),
		"ListObjectsV2": func() error { _, err := other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bkt}); return err }(),
		"DeleteObject": func() error {
			_, err := other.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bkt, Key: aws.String("dir/a.ndjson")})
			return err
		}(),
		"CopyObject out": func() error {
			other.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("others")})
			_, err := other.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("others"), Key: aws.String("stolen"), CopySource: aws.String(*bkt + "/dir/a.ndjson")})
			return err
		}(),
		"CreateMultipartUpload": func() error {
			_, err := other.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bkt, Key: aws.String("k")})
			return err
		}(),
		"DeleteBucket": func() error { _, err := other.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bkt}); return err }(),
	} {
		if name == "HeadBucket" {
			wantS3Error(t, err, "Forbidden", 403, "another account's "+name)
			continue
		}
		wantS3Error(t, err, "AccessDenied", 403, "another account's "+name)
	}

	// A wrong secret.
	bad := ts.s3Client("test", "wrong")
	_, err = bad.ListBuckets(ctx, &s3.ListBucketsInput{})
	wantS3Error(t, err, "SignatureDoesNotMatch", 403, "wrong secret")
	_, err = ts.s3Client("nobody", "x").ListBuckets(ctx, &s3.ListBucketsInput{})
	wantS3Error(t, err, "InvalidAccessKeyId", 403, "unknown key")

	// Bucket deletion.
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bkt})
	wantS3Error(t, err, "BucketNotEmpty", 409, "DeleteBucket of a full bucket")
	for _, k := range []string{"dir/a.ndjson", "dir/b c+d!.ndjson", "dir/sub/x.ndjson", "dir/sub/y.ndjson", "ünï/ç"} {
		_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bkt, Key: aws.String(k)})
		mustS3(t, err, "DeleteObject "+k)
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bkt})
	mustS3(t, err, "DeleteBucket")
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bkt})
	wantS3Error(t, err, "NotFound", 404, "HeadBucket after deletion")
}

// TestS3APIMultipart uploads a 20 MB object in three parts with CRC32 part checksums, reads it
// back whole and by range, and checks completion and abort errors.
func TestS3APIMultipart(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	ctx := context.Background()
	c := ts.s3Client("test", "test")
	bkt, key := aws.String("mp-bucket"), aws.String("big/object.ndjson")
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bkt})
	mustS3(t, err, "CreateBucket")

	data := make([]byte, 20_000_000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.UintN(256))
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bkt, Key: key, ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32})
	mustS3(t, err, "CreateMultipartUpload")
	var parts []s3types.CompletedPart
	const partSize = 8 << 20
	for n, off := int32(1), 0; off < len(data); n, off = n+1, off+partSize {
		end := min(off+partSize, len(data))
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bkt, Key: key, UploadId: up.UploadId, PartNumber: aws.Int32(n),
			Body: bytes.NewReader(data[off:end]), ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32})
		mustS3(t, err, fmt.Sprintf("UploadPart %d", n))
		parts = append(parts, s3types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag})
	}
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bkt, Key: key, UploadId: up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{parts[0], {PartNumber: aws.Int32(2), ETag: parts[0].ETag}}}})
	wantS3Error(t, err, "InvalidPart", 400, "completion with a wrong ETag")
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bkt, Key: key, UploadId: up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}})
	mustS3(t, err, "CompleteMultipartUpload")
	got := getBody(t, c, *bkt, *key, "")
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Errorf("object differs: %d bytes", len(got))
	}
	if got := getBody(t, c, *bkt, *key, "bytes=8388600-8388615"); !bytes.Equal(got, data[8388600:8388616]) {
		t.Errorf("range across parts differs")
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bkt, Key: key, UploadId: up.UploadId, PartNumber: aws.Int32(4), Body: strings.NewReader("x")})
	wantS3Error(t, err, "NoSuchUpload", 404, "part after completion")

	ab, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bkt, Key: aws.String("aborted")})
	mustS3(t, err, "CreateMultipartUpload")
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bkt, Key: aws.String("aborted"), UploadId: ab.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("small")})
	mustS3(t, err, "UploadPart")
	_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: bkt, Key: aws.String("aborted"), UploadId: ab.UploadId})
	mustS3(t, err, "AbortMultipartUpload")
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bkt, Key: aws.String("aborted"), UploadId: ab.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"x"`)}}}})
	wantS3Error(t, err, "NoSuchUpload", 404, "completion after abort")
	lo, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bkt})
	mustS3(t, err, "ListObjectsV2")
	if len(lo.Contents) != 1 || aws.ToInt64(lo.Contents[0].Size) != int64(len(data)) {
		t.Errorf("listing after multipart: %+v", lo.Contents)
	}
}

// TestS3APIVirtualHost addresses buckets as <bucket>.localhost.
func TestS3APIVirtualHost(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	ctx := context.Background()
	_, port, _ := net.SplitHostPort(ts.Cfg.Listen)
	dial := &net.Dialer{}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dial.DialContext(ctx, network, ts.Cfg.Listen) // *.localhost is this service
	}}}
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://localhost:" + port), HTTPClient: hc,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("vhost")})
	mustS3(t, err, "CreateBucket")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vhost"), Key: aws.String("a/b.txt"), Body: strings.NewReader("hello")})
	mustS3(t, err, "PutObject")
	if got := string(getBody(t, c, "vhost", "a/b.txt", "")); got != "hello" {
		t.Errorf("GetObject = %q", got)
	}
	if got := string(getBody(t, ts.s3Client("test", "test"), "vhost", "a/b.txt", "")); got != "hello" {
		t.Errorf("path-style GetObject = %q", got)
	}
}

// TestS3APIFeedsImport: a bucket created through the S3 API belongs to its creator, who imports
// from it; the default account, which owns hand-made folders, is refused it.
func TestS3APIFeedsImport(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	ctx := context.Background()
	s3c := ts.s3Client(otherKey, otherSecret)
	for _, b := range []string{"their-in", "their-out"} {
		_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)})
		mustS3(t, err, "CreateBucket "+b)
	}
	_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("their-in"), Key: aws.String("p/Patient.ndjson"), Body: strings.NewReader(secretPatient)})
	mustS3(t, err, "PutObject")
	hl := ts.ClientAs(otherKey, otherSecret, "us-east-1")
	ds := createActive(t, hl, "theirs")
	out, err := hl.StartFHIRImportJob(ctx, importInput(ds, "s3://their-in/p/", "s3://their-out/imp/"))
	if err != nil {
		t.Fatal(err)
	}
	if j := waitImport(t, hl, ds, *out.JobId); j.JobStatus != types.JobStatusCompleted {
		t.Fatalf("import = %s %s", j.JobStatus, aws.ToString(j.Message))
	}
	lo, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("their-out"), Prefix: aws.String("imp/")})
	mustS3(t, err, "ListObjectsV2")
	if len(lo.Contents) == 0 {
		t.Error("no import output listed through the S3 API")
	}
	mine := ts.client("us-east-1")
	myDS := createActive(t, mine, "mine")
	ts.bucket("my-out")
	_, err = mine.StartFHIRImportJob(ctx, importInput(myDS, "s3://their-in/p/", "s3://my-out/"))
	var denied *types.AccessDeniedException
	if !errors.As(err, &denied) {
		t.Errorf("default account imports another account's S3 API bucket: %v, want AccessDeniedException", err)
	}
}

// TestS3APIOverTLS runs the SDK over HTTPS, where it streams uploads as aws-chunked
// STREAMING-UNSIGNED-PAYLOAD-TRAILER bodies with a CRC32 trailer, and checks that mode was used,
// accepted, and stored intact.
func TestS3APIOverTLS(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	var mu sync.Mutex
	modes := map[string]int{}
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			modes[r.Header.Get("X-Amz-Content-Sha256")+" "+r.Header.Get("X-Amz-Trailer")]++
			mu.Unlock()
		}
		ts.Srv.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(tlsSrv.Close)
	ctx := context.Background()
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(tlsSrv.URL), UsePathStyle: true, HTTPClient: tlsSrv.Client(),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("tls-bucket")})
	mustS3(t, err, "CreateBucket")
	data := bytes.Repeat([]byte("streamed "), 300_000)
	// A seekable body goes as UNSIGNED-PAYLOAD with a checksum header, a stream as aws-chunked
	// with a trailing checksum.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tls-bucket"), Key: aws.String("seekable.txt"), Body: bytes.NewReader(data)})
	mustS3(t, err, "PutObject seekable")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tls-bucket"), Key: aws.String("stream.txt"),
		Body: struct{ io.Reader }{bytes.NewReader(data)}, ContentLength: aws.Int64(int64(len(data))), ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32})
	mustS3(t, err, "PutObject stream")
	for _, k := range []string{"seekable.txt", "stream.txt"} {
		if got := getBody(t, c, "tls-bucket", k, ""); !bytes.Equal(got, data) {
			t.Errorf("%s differs: %d bytes", k, len(got))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if modes["STREAMING-UNSIGNED-PAYLOAD-TRAILER x-amz-checksum-crc32"] != 1 || modes["UNSIGNED-PAYLOAD "] != 1 {
		t.Errorf("PUT payload modes seen: %v; want one UNSIGNED-PAYLOAD and one unsigned trailer", modes)
	}
}

// TestS3EndpointIsFhirlake points one service's --s3-endpoint at another service's S3 API: the
// remote S3 client of the first (list, ranged and whole reads, puts) works against the second, and
// the second's ownership holds for the endpoint's credentials.
func TestS3EndpointIsFhirlake(t *testing.T) {
	t.Parallel()
	objects := start(t, newConfig(t))
	ctx := context.Background()
	s3c := objects.s3Client(otherKey, otherSecret)
	for _, b := range []string{"ep-in", "ep-out"} {
		_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)})
		mustS3(t, err, "CreateBucket "+b)
	}
	var body strings.Builder
	for i := range 500 {
		fmt.Fprintf(&body, `{"resourceType":"Patient","id":"ep-%d","gender":"male"}`+"\n", i)
	}
	_, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ep-in"), Key: aws.String("in/Patient.ndjson"), Body: strings.NewReader(body.String())})
	mustS3(t, err, "PutObject")

	cfg := newConfig(t)
	cfg.S3Endpoint, cfg.S3AccessKeyID, cfg.S3SecretAccessKey = objects.URL, otherKey, otherSecret
	ts := start(t, cfg)
	hl := ts.client("us-east-1")
	ds := createActive(t, hl, "via-endpoint")
	out, err := hl.StartFHIRImportJob(ctx, importInput(ds, "s3://ep-in/in/", "s3://ep-out/imports/"))
	if err != nil {
		t.Fatal(err)
	}
	if j := waitImport(t, hl, ds, *out.JobId); j.JobStatus != types.JobStatusCompleted || aws.ToInt64(j.JobProgressReport.TotalNumberOfResourcesImported) != 500 {
		t.Fatalf("import = %s %s", j.JobStatus, aws.ToString(j.Message))
	}
	exp, err := hl.StartFHIRExportJob(ctx, exportInput(ds, "s3://ep-out/exports/"))
	if err != nil {
		t.Fatal(err)
	}
	if j := waitExport(t, hl, ds, *exp.JobId); j.JobStatus != types.JobStatusCompleted {
		t.Fatalf("export = %s %s", j.JobStatus, aws.ToString(j.Message))
	}
	lo, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("ep-out"), Prefix: aws.String("exports/")})
	mustS3(t, err, "ListObjectsV2")
	if len(lo.Contents) != 1 || !strings.HasSuffix(aws.ToString(lo.Contents[0].Key), "/Patient/Patient-1.ndjson") {
		t.Errorf("export objects = %+v", lo.Contents)
	}

	// Credentials of the endpoint's default account reach none of those buckets.
	cfg2 := newConfig(t)
	cfg2.S3Endpoint, cfg2.S3AccessKeyID, cfg2.S3SecretAccessKey = objects.URL, "test", "test"
	// A 403 from an S3 endpoint is its policy, which its operator may change: the job pauses for
	// the fault timeout before it fails.
	cfg2.JobFaultTimeout = time.Second
	ts2 := start(t, cfg2)
	hl2 := ts2.client("us-east-1")
	ds2 := createActive(t, hl2, "denied")
	out2, err := hl2.StartFHIRImportJob(ctx, importInput(ds2, "s3://ep-in/in/", "s3://ep-out/x/"))
	if err != nil {
		t.Fatal(err)
	}
	healthlake.NewFHIRImportJobCompletedWaiter(hl2, func(o *healthlake.FHIRImportJobCompletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = 20*time.Millisecond, 200*time.Millisecond
	}).Wait(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds2, JobId: out2.JobId}, 2*time.Minute)
	d, err := hl2.DescribeFHIRImportJob(ctx, &healthlake.DescribeFHIRImportJobInput{DatastoreId: &ds2, JobId: out2.JobId})
	if err != nil {
		t.Fatal(err)
	}
	if p := d.ImportJobProperties; p.JobStatus != types.JobStatusFailed || !strings.Contains(aws.ToString(p.Message), "permission denied") {
		t.Errorf("import with the endpoint's other credentials = %s %q, want FAILED with permission denied", p.JobStatus, aws.ToString(p.Message))
	}
}
