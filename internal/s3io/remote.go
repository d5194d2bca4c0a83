package s3io

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

const (
	// DefaultRegion is the region Remote signs for when none is configured.
	DefaultRegion = "us-east-1"
	// DefaultPartSize is the multipart part size Remote uses when none is
	// configured, in bytes.
	DefaultPartSize = 8 << 20

	minPartSize = 5 << 20          // S3 minimum for every part but the last
	maxPartSize = 5 << 30          // S3 maximum part size
	maxParts    = 10000            // S3 maximum parts per upload
	abortWait   = 30 * time.Second // time allowed to abort an upload after ctx ends
)

// RemoteConfig configures a Remote.
type RemoteConfig struct {
	// Endpoint is the base URL of an S3-compatible service, such as
	// "http://localhost:9000". Default "": the AWS S3 endpoint for Region,
	// or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL when set.
	Endpoint string
	// Region is the signing region. Default "us-east-1".
	Region string
	// AccessKeyID and SecretAccessKey, when set, are used instead of the
	// standard AWS credential chain (environment, shared config and
	// credentials files, container and instance roles). Set both or
	// neither. Default "": use the chain.
	AccessKeyID     string
	SecretAccessKey string
	// PartSize is the size of each multipart upload part in bytes, and so
	// also the memory one Put holds and the largest object Put sends in a
	// single request. With 10,000 parts allowed per upload it bounds the
	// largest object at 10,000 x PartSize. Default 8 MiB; must be between
	// 5 MiB and 5 GiB.
	PartSize int64
}

// Remote stores objects in Amazon S3 or an S3-compatible service, using
// path-style addressing (http://endpoint/bucket/key) so that bucket names
// need no DNS. A Remote is safe for concurrent use.
type Remote struct {
	client   *s3.Client
	partSize int64
	// partChecksums makes multipart uploads carry CRC32 part checksums,
	// unless AWS_REQUEST_CHECKSUM_CALCULATION=when_required turns request
	// checksums off for services that do not support them.
	partChecksums bool
}

var _ Store = (*Remote)(nil)

// NewRemote validates cfg, resolves credentials and returns a Remote. It
// sends no request, so a wrong endpoint or bad credentials show up on first
// use.
func NewRemote(ctx context.Context, cfg RemoteConfig) (*Remote, error) {
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < minPartSize || cfg.PartSize > maxPartSize {
		return nil, fmt.Errorf("s3 part size %d: must be between %d and %d", cfg.PartSize, minPartSize, int64(maxPartSize))
	}
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return nil, errors.New("s3 credentials: set both access key ID and secret access key, or neither")
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("s3 endpoint %q: want an http or https URL", cfg.Endpoint)
		}
	}

	opts := []func(*config.LoadOptions) error{config.WithRegion(cfg.Region)}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = true
		// Objects written by other tools often carry no checksum; that is
		// not worth a log line per GetObject.
		o.DisableLogOutputChecksumValidationSkipped = true
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &Remote{
		client:        client,
		partSize:      cfg.PartSize,
		partChecksums: awsCfg.RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired,
	}, nil
}

// List implements Store.List with ListObjectsV2, one page at a time.
func (r *Remote) List(ctx context.Context, bucket, prefix string, fn func(Object) error) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	pages := s3.NewListObjectsV2Paginator(r.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return mapError("list", bucket, prefix, err, ErrNoSuchBucket)
		}
		for _, o := range page.Contents {
			if err := fn(Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Open implements Store.Open with GetObject, adding a Range header when
// offset is positive. The stream reads from the network and is bound to ctx.
func (r *Remote) Open(ctx context.Context, bucket, key string, offset int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fmt.Errorf("open s3://%s/%s: negative offset %d", bucket, key, offset)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	var optFns []func(*s3.Options)
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
		// A whole-object checksum cannot validate part of the object, and
		// some S3-compatible services send one anyway.
		optFns = append(optFns, func(o *s3.Options) {
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		})
	}
	out, err := r.client.GetObject(ctx, in, optFns...)
	if err != nil {
		if offset > 0 && isInvalidRange(err) {
			// The object exists (else 404) and is no longer than offset.
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, mapError("open", bucket, key, err, ErrNotFound)
	}
	return &body{ReadCloser: out.Body, bucket: bucket, key: key}, nil
}

// Put implements Store.Put. A body that fits in one part goes up in a single
// PutObject; a longer one in a multipart upload that is aborted on any
// failure. Parts are sent one at a time from a single reused buffer of at
// most PartSize bytes.
func (r *Remote) Put(ctx context.Context, bucket, key string, body io.Reader) error {
	// Start small and double up to one part, so that the many small
	// objects (reports, manifests) do not each allocate a whole part.
	buf := make([]byte, min(r.partSize, putBufSize))
	n, eof, err := fill(ctx, body, buf)
	for err == nil && !eof && int64(len(buf)) < r.partSize {
		grown := make([]byte, min(2*int64(len(buf)), r.partSize))
		copy(grown, buf)
		buf = grown
		var more int
		more, eof, err = fill(ctx, body, buf[n:])
		n += more
	}
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	if !eof {
		return r.putMultipart(ctx, bucket, key, body, buf)
	}
	_, err = r.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(buf[:n]),
		ContentLength: aws.Int64(int64(n)),
	})
	if err != nil {
		return mapError("put", bucket, key, err, ErrNoSuchBucket)
	}
	return nil
}

// putMultipart uploads an object whose first part is already in buf (full)
// and whose remaining bytes are in body.
func (r *Remote) putMultipart(ctx context.Context, bucket, key string, body io.Reader, buf []byte) (err error) {
	var algo types.ChecksumAlgorithm
	if r.partChecksums {
		algo = types.ChecksumAlgorithmCrc32
	}
	created, err := r.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(bucket),
		Key:               aws.String(key),
		ChecksumAlgorithm: algo,
	})
	if err != nil {
		return mapError("put", bucket, key, err, ErrNoSuchBucket)
	}
	uploadID := created.UploadId
	defer func() {
		if err == nil {
			return
		}
		// Abort even when ctx is what failed, so no parts linger; the
		// upload was never completed, so no object became visible.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortWait)
		defer cancel()
		_, aerr := r.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(bucket), Key: aws.String(key), UploadId: uploadID,
		})
		err = mapError("put", bucket, key, errors.Join(err, aerr), ErrNoSuchBucket)
	}()

	var parts []types.CompletedPart
	n, eof := len(buf), false
	for num := int32(1); n > 0; num++ {
		if num > maxParts {
			return fmt.Errorf("object exceeds %d parts of %d bytes", maxParts, r.partSize)
		}
		up, err := r.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            aws.String(bucket),
			Key:               aws.String(key),
			UploadId:          uploadID,
			PartNumber:        aws.Int32(num),
			Body:              bytes.NewReader(buf[:n]),
			ContentLength:     aws.Int64(int64(n)),
			ChecksumAlgorithm: algo,
		})
		if err != nil {
			return err
		}
		parts = append(parts, types.CompletedPart{
			PartNumber:    aws.Int32(num),
			ETag:          up.ETag,
			ChecksumCRC32: up.ChecksumCRC32,
		})
		if eof {
			break
		}
		if n, eof, err = fill(ctx, body, buf); err != nil {
			return err
		}
	}
	_, err = r.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(bucket),
		Key:             aws.String(key),
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return err
}

// Delete implements Store.Delete with DeleteObject, which S3 already treats
// as a success for a missing key.
func (r *Remote) Delete(ctx context.Context, bucket, key string) error {
	_, err := r.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return mapError("delete", bucket, key, err, ErrNoSuchBucket)
	}
	return nil
}

// mapError wraps an SDK error with the operation and object, adding
// ErrNoSuchBucket or ErrNotFound when the service reports one (a bare 404
// without an error code, as HEAD responses have, becomes on404), and the
// faults that can clear: ErrPermissionDenied for any 403 (the endpoint's
// policy, which its operator may change), ErrUnavailable when no answer came
// or the answer was a server error after the SDK's retries.
func mapError(op, bucket, key string, err error, on404 error) error {
	var sentinel error
	var apiErr smithy.APIError
	var respErr *smithyhttp.ResponseError
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchBucket":
		sentinel = ErrNoSuchBucket
	case errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NoSuchKey" || apiErr.ErrorCode() == "NotFound"):
		sentinel = ErrNotFound
	case errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusNotFound:
		sentinel = on404
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "AccessDenied",
		errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusForbidden:
		sentinel = ErrPermissionDenied
	case errors.As(err, &respErr) && respErr.HTTPStatusCode() >= 500, unreachable(err):
		sentinel = ErrUnavailable
	}
	if sentinel != nil {
		return fmt.Errorf("%s s3://%s/%s: %w: %w", op, bucket, key, sentinel, err)
	}
	return fmt.Errorf("%s s3://%s/%s: %w", op, bucket, key, err)
}

// unreachable reports whether err means that no answer came from the
// endpoint: the request could not be sent or its response not read
// (connection refused or reset, a timeout, name resolution). A cancelled
// context is not a fault of the endpoint.
func unreachable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var sendErr *smithyhttp.RequestSendError
	var netErr net.Error
	return errors.As(err, &sendErr) || errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}

// body is an object stream of GetObject whose read errors name the fault,
// as the errors of Remote's calls do.
type body struct {
	io.ReadCloser
	bucket, key string
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && unreachable(err) {
		err = fmt.Errorf("read s3://%s/%s: %w: %w", b.bucket, b.key, ErrUnavailable, err)
	}
	return n, err
}

// isInvalidRange reports whether a ranged GET failed because the range
// starts at or past the end of the object.
func isInvalidRange(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "InvalidRange" {
		return true
	}
	var respErr *smithyhttp.ResponseError
	return errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusRequestedRangeNotSatisfiable
}
