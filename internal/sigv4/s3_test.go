package sigv4

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The example credential and time of the AWS S3 SigV4 documentation ("Signature calculations
// for the Authorization header: transferring payload in multiple chunks" and "... trailing
// headers").
const (
	docKey    = "AKIAIOSFODNN7EXAMPLE"
	docSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var docTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func docVerifier() *Verifier {
	return &Verifier{
		Credentials: StaticCredentials{docKey: {SecretAccessKey: docSecret, AccountID: "123456789012"}},
		Service:     "s3",
		Now:         func() time.Time { return docTime },
	}
}

// docChunks is the documented body: 65536 and 1024 bytes of 'a' and the final chunk, with the
// given chunk signatures; tail follows the final chunk line.
func docChunks(sig1, sig2, sig3, tail string) []byte {
	var b bytes.Buffer
	b.WriteString("10000;chunk-signature=" + sig1 + "\r\n")
	b.Write(bytes.Repeat([]byte("a"), 65536))
	b.WriteString("\r\n400;chunk-signature=" + sig2 + "\r\n")
	b.Write(bytes.Repeat([]byte("a"), 1024))
	b.WriteString("\r\n0;chunk-signature=" + sig3 + "\r\n" + tail)
	return b.Bytes()
}

func docRequest(body []byte, signedHeaders, seed string, headers ...string) *http.Request {
	r := httptest.NewRequest(http.MethodPut, "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(body))
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	for i := 0; i < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+docKey+"/20130524/us-east-1/s3/aws4_request,SignedHeaders="+
		signedHeaders+",Signature="+seed)
	return r
}

func readBody(r *http.Request) ([]byte, error) { return io.ReadAll(r.Body) }

// TestVerifyS3StreamingVector verifies the documented STREAMING-AWS4-HMAC-SHA256-PAYLOAD request,
// and refuses it with one data byte or one chunk signature changed.
func TestVerifyS3StreamingVector(t *testing.T) {
	t.Parallel()
	const (
		seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
		s1   = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
		s2   = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
		s3   = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
	)
	signed := "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class"
	body := docChunks(s1, s2, s3, "\r\n")
	if len(body) != 66824 {
		t.Fatalf("documented body is 66824 bytes, built %d", len(body))
	}
	r := docRequest(body, signed, seed, "X-Amz-Content-Sha256", streamingSigned)
	id, err := docVerifier().VerifyS3(r)
	if err != nil {
		t.Fatalf("VerifyS3: %v", err)
	}
	if id.AccountID != "123456789012" || r.ContentLength != 66560 {
		t.Errorf("identity %+v, length %d", id, r.ContentLength)
	}
	got, err := readBody(r)
	if err != nil || !bytes.Equal(got, bytes.Repeat([]byte("a"), 66560)) {
		t.Fatalf("body: %d bytes, %v", len(got), err)
	}

	tampered := bytes.Clone(body)
	tampered[70000-66000] = 'b' // inside the first chunk's data
	r = docRequest(tampered, signed, seed, "X-Amz-Content-Sha256", streamingSigned)
	if _, err := docVerifier().VerifyS3(r); err != nil {
		t.Fatal(err) // the header is intact
	}
	if _, err := readBody(r); KindOf(err) != BadSignature {
		t.Errorf("tampered chunk: %v, want a BadSignature read error", err)
	}
	r = docRequest(docChunks(s1, s2, s1, "\r\n"), signed, seed, "X-Amz-Content-Sha256", streamingSigned)
	docVerifier().VerifyS3(r)
	if _, err := readBody(r); KindOf(err) != BadSignature {
		t.Errorf("wrong final signature: %v, want BadSignature", err)
	}
	r = docRequest(body[:40000], signed, seed, "X-Amz-Content-Sha256", streamingSigned, "Content-Length", "66824")
	if _, err := docVerifier().VerifyS3(r); err != nil {
		t.Fatal(err)
	}
	var pe *PayloadError
	if _, err := readBody(r); !errors.As(err, &pe) || pe.Reason != MalformedPayload {
		t.Errorf("truncated body: %v, want MalformedPayload", err)
	}
}

// TestVerifyS3TrailerVector decodes the documented signed body with a CRC32C trailer (seed and
// chain of the AWS example), and refuses a wrong checksum or trailer signature.
func TestVerifyS3TrailerVector(t *testing.T) {
	t.Parallel()
	const (
		seed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
		s1   = "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2"
		s2   = "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7"
		s3   = "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"
		ts   = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
	)
	decode := func(trailer string) ([]byte, error) {
		body := docChunks(s1, s2, s3, trailer)
		r := httptest.NewRequest(http.MethodPut, "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(body))
		r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32c")
		r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
		a := authorization{date: "20130524", region: "us-east-1", service: "s3"}
		seedSig, _ := hexDecode(seed)
		p, _, err := newPayload(r, streamingSignedTrailer, chunkSigner{key: signingKey(docSecret, &a), amzDate: "20130524T000000Z", scope: a.scope(), prev: seedSig})
		if err != nil {
			return nil, err
		}
		return io.ReadAll(p)
	}
	got, err := decode("x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" + ts + "\r\n\r\n")
	if err != nil || len(got) != 66560 {
		t.Fatalf("documented trailer body: %d bytes, %v", len(got), err)
	}
	if _, err := decode("x-amz-checksum-crc32c:AAAAAA==\r\nx-amz-trailer-signature:" + ts + "\r\n\r\n"); KindOf(err) != BadSignature {
		t.Errorf("changed trailer under the old signature: %v, want BadSignature", err)
	}
	if _, err := decode("x-amz-checksum-crc32c:sOO8/Q==\r\n\r\n"); KindOf(err) != BadSignature {
		t.Errorf("unsigned trailer in signed mode: %v, want BadSignature", err)
	}
}

func hexDecode(s string) ([]byte, error) {
	b := make([]byte, len(s)/2)
	for i := range b {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		b[i] = byte(v)
	}
	return b, nil
}

// signS3 signs r for s3 with the SDK signer and the given payload hash, at now.
func signS3(t *testing.T, r *http.Request, payloadHash string) {
	t.Helper()
	r.Header.Set("X-Amz-Content-Sha256", payloadHash)
	err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "SECRET"}, r, payloadHash, "s3", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
}

func s3Verifier() *Verifier {
	return &Verifier{Credentials: StaticCredentials{"AKID": {SecretAccessKey: "SECRET", AccountID: "111111111111"}}, Service: "s3"}
}

// unsignedTrailerBody frames data as STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer.
func unsignedTrailerBody(data []byte, crc string) []byte {
	var b bytes.Buffer
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 7000)
		b.WriteString(strconv.FormatInt(int64(n), 16) + "\r\n")
		b.Write(rest[:n])
		b.WriteString("\r\n")
		rest = rest[n:]
	}
	b.WriteString("0\r\nx-amz-checksum-crc32:" + crc + "\r\n\r\n")
	return b.Bytes()
}

func crc32Base64(data []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(data))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestVerifyS3PayloadModes: unsigned trailer with its checksum, a signed hex payload hash, and
// UNSIGNED-PAYLOAD, each accepted when intact and refused (while reading) when not.
func TestVerifyS3PayloadModes(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("0123456789"), 3000)
	path := "/bkt/a%20key/with%2Bplus%21"
	for _, tc := range []struct {
		name   string
		mode   string
		body   []byte
		header map[string]string
		want   PayloadReason // 0: accepted
	}{
		{"unsigned trailer", streamingUnsigned, unsignedTrailerBody(data, crc32Base64(data)),
			map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32", "X-Amz-Decoded-Content-Length": strconv.Itoa(len(data))}, 0},
		{"unsigned trailer, wrong crc", streamingUnsigned, unsignedTrailerBody(data, crc32Base64([]byte("x"))),
			map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32", "X-Amz-Decoded-Content-Length": strconv.Itoa(len(data))}, ChecksumMismatch},
		{"unsigned trailer, short", streamingUnsigned, unsignedTrailerBody(data, crc32Base64(data)),
			map[string]string{"X-Amz-Trailer": "x-amz-checksum-crc32", "X-Amz-Decoded-Content-Length": strconv.Itoa(len(data) + 1)}, LengthMismatch},
		{"unsigned trailer, undeclared", streamingUnsigned, unsignedTrailerBody(data, crc32Base64(data)),
			map[string]string{"X-Amz-Decoded-Content-Length": strconv.Itoa(len(data))}, MalformedPayload},
		{"signed hash", hexSHA256(data), data, nil, 0},
		{"signed hash, other body", hexSHA256(data), append(bytes.Clone(data[1:]), 'x'), nil, PayloadHashMismatch},
		{"unsigned payload", unsignedPayload, data, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:4599"+path, bytes.NewReader(tc.body))
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			signS3(t, r, tc.mode)
			srv := serverRequest(r, tc.body)
			if _, err := s3Verifier().VerifyS3(srv); err != nil {
				t.Fatalf("VerifyS3: %v", err)
			}
			got, err := readBody(srv)
			var pe *PayloadError
			switch {
			case tc.want == 0 && (err != nil || !bytes.Equal(got, data)):
				t.Errorf("body: %d bytes, %v", len(got), err)
			case tc.want != 0 && (!errors.As(err, &pe) || pe.Reason != tc.want):
				t.Errorf("read error %v, want reason %d", err, tc.want)
			}
		})
	}
}

// TestVerifyS3Rejects: header problems are refused before the body is read.
func TestVerifyS3Rejects(t *testing.T) {
	t.Parallel()
	r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:4599/bkt/key", nil)
	signS3(t, r, hexSHA256(nil))
	good := serverRequest(r, nil)
	if _, err := s3Verifier().VerifyS3(good); err != nil {
		t.Fatalf("good request: %v", err)
	}
	// Without x-amz-content-sha256 (curl 7), a bodiless request is signed over the empty hash;
	// one with a body is refused.
	bare, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:4599/bkt/key", nil)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "SECRET"},
		bare, hexSHA256(nil), "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s3Verifier().VerifyS3(serverRequest(bare, nil)); err != nil {
		t.Errorf("bodiless request without x-amz-content-sha256: %v", err)
	}
	withBody := serverRequest(bare, []byte("x"))
	var pe *PayloadError
	if _, err := s3Verifier().VerifyS3(withBody); !errors.As(err, &pe) {
		t.Errorf("body without x-amz-content-sha256: %v, want a PayloadError", err)
	}
	other := serverRequest(r, nil)
	other.URL.Path, other.RequestURI = "/bkt/other", "/bkt/other"
	if _, err := s3Verifier().VerifyS3(other); KindOf(err) != BadSignature {
		t.Errorf("other path: %v", err)
	}
	// Static credentials have no session token: one signed with the request is refused.
	tok, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:4599/bkt/key", nil)
	tok.Header.Set("X-Amz-Content-Sha256", hexSHA256(nil))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "SECRET", SessionToken: "TOKEN"},
		tok, hexSHA256(nil), "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s3Verifier().VerifyS3(serverRequest(tok, nil)); KindOf(err) != InvalidToken {
		t.Errorf("session token: %v, want InvalidToken", err)
	}
	hl := &Verifier{Credentials: s3Verifier().Credentials, Service: "healthlake"}
	if _, err := hl.VerifyS3(serverRequest(r, nil)); KindOf(err) != BadSignature {
		t.Errorf("wrong service: %v", err)
	}
	if got := ServiceOf(good); got != "s3" {
		t.Errorf("ServiceOf = %q", got)
	}
	if got := ServiceOf(httptest.NewRequest(http.MethodGet, "/", nil)); got != "" {
		t.Errorf("ServiceOf(unsigned) = %q", got)
	}
	if !strings.Contains(good.Header.Get("Authorization"), "/s3/aws4_request") {
		t.Fatal("signer did not scope to s3")
	}
}

// FuzzS3Payload feeds arbitrary bytes to the aws-chunked decoder in each streaming mode: it must
// never panic, never return more bytes than declared, and end with EOF only for a body that
// verified.
func FuzzS3Payload(f *testing.F) {
	data := bytes.Repeat([]byte("0123456789"), 100)
	f.Add(unsignedTrailerBody(data, crc32Base64(data)), uint8(0))
	f.Add(docChunks("ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9", "\r\n"), uint8(1))
	f.Add([]byte("ffffffffffffffff;chunk-signature=00\r\n"), uint8(1))
	f.Add([]byte("5\r\nabc"), uint8(0))
	f.Add([]byte("0\r\n"+strings.Repeat("x-amz-checksum-crc32:AAAAAA==\r\n", 20)+"\r\n"), uint8(0))
	a := authorization{date: "20130524", region: "us-east-1", service: "s3"}
	seed, _ := hexDecode("4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
	f.Fuzz(func(t *testing.T, body []byte, m uint8) {
		modes := []string{streamingUnsigned, streamingSigned, streamingSignedTrailer}
		mode := modes[int(m)%len(modes)]
		r := httptest.NewRequest(http.MethodPut, "http://s3.amazonaws.com/b/k", bytes.NewReader(body))
		r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
		r.Header.Set("X-Amz-Decoded-Content-Length", "1000")
		p, _, err := newPayload(r, mode, chunkSigner{key: signingKey(docSecret, &a), amzDate: "20130524T000000Z", scope: a.scope(), prev: seed})
		if err != nil {
			return
		}
		n, err := io.Copy(io.Discard, p)
		if n > 1000 {
			t.Fatalf("decoded %d bytes, more than declared", n)
		}
		if err == nil && n != 1000 {
			t.Fatalf("accepted a body of %d bytes, declared 1000", n)
		}
	})
}
