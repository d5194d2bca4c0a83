package server_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func hmacSum(key []byte, s string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(s))
	return h.Sum(nil)
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// streamPut sends a PUT of body framed by frame (given the seed signature, signing key, time and
// scope) with payload mode mode, signed by the SDK signer for the default account.
func streamPut(t *testing.T, ts *testServer, key, mode string, decoded int, header map[string]string,
	frame func(seed string, sk []byte, amzDate, scope string) []byte) *http.Response {
	t.Helper()
	now := time.Now().UTC()
	req, _ := http.NewRequest(http.MethodPut, ts.URL+"/stream-bkt/"+key, nil)
	req.Header.Set("X-Amz-Content-Sha256", mode)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(decoded))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, req, mode, "s3", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	_, seed, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	date := now.Format("20060102")
	sk := hmacSum(hmacSum(hmacSum(hmacSum([]byte("AWS4test"), date), "us-east-1"), "s3"), "aws4_request")
	body := frame(seed, sk, now.Format("20060102T150405Z"), date+"/us-east-1/s3/aws4_request")
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// signedChunks frames data as STREAMING-AWS4-HMAC-SHA256-PAYLOAD in chunks of size n; corrupt, if
// not negative, flips that byte of the data after signing.
func signedChunks(data []byte, n, corrupt int) func(seed string, sk []byte, amzDate, scope string) []byte {
	return func(seed string, sk []byte, amzDate, scope string) []byte {
		var b bytes.Buffer
		prev := seed
		emit := func(chunk []byte) {
			sig := hex.EncodeToString(hmacSum(sk, "AWS4-HMAC-SHA256-PAYLOAD\n"+amzDate+"\n"+scope+"\n"+prev+"\n"+hexSum(nil)+"\n"+hexSum(chunk)))
			b.WriteString(strconv.FormatInt(int64(len(chunk)), 16) + ";chunk-signature=" + sig + "\r\n")
			b.Write(chunk)
			b.WriteString("\r\n")
			prev = sig
		}
		for rest := data; len(rest) > 0; rest = rest[min(n, len(rest)):] {
			emit(rest[:min(n, len(rest))])
		}
		emit(nil)
		out := b.Bytes()
		if corrupt >= 0 {
			i := bytes.Index(out, []byte("\r\n")) + 2 + corrupt
			out[i] ^= 1
		}
		return out
	}
}

func crcTrailer(data []byte, wrong bool) func(string, []byte, string, string) []byte {
	return func(string, []byte, string, string) []byte {
		var sum [4]byte
		binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(data))
		if wrong {
			sum[0] ^= 1
		}
		var b bytes.Buffer
		b.WriteString(strconv.FormatInt(int64(len(data)), 16) + "\r\n")
		b.Write(data)
		b.WriteString("\r\n0\r\nx-amz-checksum-crc32:" + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n")
		return b.Bytes()
	}
}

// TestS3APIStreamingUploads sends aws-chunked uploads on the wire: signed chunks (the chain the
// Java SDK and MinIO clients use) and an unsigned body with a CRC32 trailer. Intact bodies are
// stored; a flipped data byte or a wrong checksum is refused and the previous object is kept.
func TestS3APIStreamingUploads(t *testing.T) {
	t.Parallel()
	ts := start(t, newConfig(t))
	c := ts.s3Client("test", "test")
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("stream-bkt")}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("chunked data "), 20000) // 260,000 bytes
	obj := filepath.Join(ts.Cfg.S3Dir, "stream-bkt", "obj")
	for _, tc := range []struct {
		name   string
		mode   string
		header map[string]string
		frame  func(string, []byte, string, string) []byte
		status int
		code   string
	}{
		{"signed chunks", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", nil, signedChunks(data, 65536, -1), 200, ""},
		{"signed chunks, byte flipped", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", nil, signedChunks(bytes.Repeat([]byte("x"), len(data)), 65536, 70000), 403, "SignatureDoesNotMatch"},
		{"unsigned trailer", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}, crcTrailer(data, false), 200, ""},
		{"unsigned trailer, wrong crc", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32"}, crcTrailer(bytes.Repeat([]byte("y"), len(data)), true), 400, "BadDigest"},
	} {
		resp := streamPut(t, ts, "obj", tc.mode, len(data), tc.header, tc.frame)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.code) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, resp.StatusCode, b, tc.status, tc.code)
		}
		if got, err := os.ReadFile(obj); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: stored object is %d bytes (%v), want the intact upload", tc.name, len(got), err)
		}
	}
}
