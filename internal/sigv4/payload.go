package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// PayloadReason says how a body failed its declared protection.
type PayloadReason int

const (
	// PayloadHashMismatch: the body's SHA-256 is not the X-Amz-Content-Sha256 value
	// (S3: XAmzContentSHA256Mismatch).
	PayloadHashMismatch PayloadReason = iota + 1
	// ChecksumMismatch: Content-MD5 or an x-amz-checksum-* header or trailer does not match
	// (S3: BadDigest).
	ChecksumMismatch
	// MalformedPayload: broken aws-chunked framing, a malformed checksum value, an undeclared or
	// missing trailer (S3: InvalidRequest / IncompleteBody).
	MalformedPayload
	// LengthMismatch: the body is shorter or longer than declared (S3: IncompleteBody).
	LengthMismatch
)

// PayloadError is a body that does not match what its request declared. Readers returned by
// VerifyS3 and VerifyChecksums return it in place of io.EOF (or as soon as it is known), so the
// bytes read so far must be discarded. Msg is safe to send to the client.
type PayloadError struct {
	Reason PayloadReason
	Msg    string
}

func (e *PayloadError) Error() string { return "sigv4: payload: " + e.Msg }

// Limits of the aws-chunked framing.
const (
	maxChunkLine = 4 << 10       // a chunk header or trailer line
	maxChunkSize = 5<<30 + 1<<20 // no chunk is larger than S3's largest single upload
	maxTrailers  = 8
)

// chunkSigner verifies the signature chain of a signed aws-chunked body.
type chunkSigner struct {
	key     []byte
	amzDate string
	scope   string
	prev    []byte // the previous signature: the seed signature, then each chunk's
}

// verify checks one chunk's signature, given the SHA-256 of its data, and advances the chain.
func (c *chunkSigner) verify(kind string, dataHash []byte, sig string) bool {
	var b strings.Builder
	b.WriteString(kind)
	b.WriteByte('\n')
	b.WriteString(c.amzDate)
	b.WriteByte('\n')
	b.WriteString(c.scope)
	b.WriteByte('\n')
	b.WriteString(hex.EncodeToString(c.prev))
	b.WriteByte('\n')
	if kind == "AWS4-HMAC-SHA256-PAYLOAD" {
		b.WriteString(hex.EncodeToString(emptyHash[:]))
		b.WriteByte('\n')
	}
	b.WriteString(hex.EncodeToString(dataHash))
	want := hmacSHA256(c.key, b.String())
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(want, got) {
		return false
	}
	c.prev = got
	return true
}

// newPayload returns the verifying body of r for payload mode, and the decoded length.
func newPayload(r *http.Request, mode string, signer chunkSigner) (io.ReadCloser, int64, error) {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	p := &payload{closer: body, src: body, want: r.ContentLength}
	switch mode {
	case unsignedPayload:
	case streamingSigned, streamingSignedTrailer, streamingUnsigned:
		n, err := decodedLength(r)
		if err != nil {
			return nil, 0, err
		}
		c := &chunkedReader{br: bufio.NewReaderSize(body, 32<<10), payload: p}
		if mode != streamingUnsigned {
			s := signer
			c.signer = &s
			c.chunkHash = sha256.New()
		}
		if mode != streamingSigned {
			for name := range strings.SplitSeq(r.Header.Get("X-Amz-Trailer"), ",") {
				name = strings.ToLower(strings.TrimSpace(name))
				if name == "" {
					continue
				}
				h := checksumHash(name)
				if h == nil || len(p.checks) >= maxTrailers {
					return nil, 0, &PayloadError{Reason: MalformedPayload, Msg: "x-amz-trailer names an unsupported trailer " + strconv.Quote(name)}
				}
				p.checks = append(p.checks, &checksum{name: name, h: h, trailer: true})
			}
		}
		c.trailers = mode != streamingSigned
		p.src, p.want = c, n
	default:
		if !isHex(mode, sha256.Size*2) {
			return nil, 0, newError(BadSignature, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* mode, or the hex-encoded SHA-256 of the payload")
		}
		p.sha = sha256.New()
		p.wantSHA, _ = hex.DecodeString(mode)
		if r.ContentLength == 0 && !bytes.Equal(p.wantSHA, emptyHash[:]) {
			return nil, 0, &PayloadError{Reason: PayloadHashMismatch, Msg: "The provided 'x-amz-content-sha256' header does not match what was computed."}
		}
	}
	return p, p.want, nil
}

// VerifyChecksums wraps body so that reading it to the end also checks the Content-MD5 and
// x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256} headers of h against it; a mismatch is a
// *PayloadError in place of io.EOF. A malformed header value is an error at once.
func VerifyChecksums(h http.Header, body io.Reader) (io.Reader, error) {
	p := &payload{src: body, want: -1}
	for name, values := range h {
		lname := strings.ToLower(name)
		hh := checksumHash(lname)
		if hh == nil {
			continue
		}
		want, err := base64.StdEncoding.DecodeString(strings.TrimSpace(values[0]))
		if err != nil || len(want) != hh.Size() {
			return nil, &PayloadError{Reason: MalformedPayload, Msg: "The " + lname + " header is not a valid base64 digest"}
		}
		p.checks = append(p.checks, &checksum{name: lname, h: hh, want: want})
	}
	if len(p.checks) == 0 {
		return body, nil
	}
	return p, nil
}

// checksumHash returns a fresh hash for a checksum header name, or nil.
func checksumHash(name string) hash.Hash {
	switch name {
	case "content-md5":
		return md5.New()
	case "x-amz-checksum-crc32":
		return crc32.NewIEEE()
	case "x-amz-checksum-crc32c":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "x-amz-checksum-crc64nvme":
		return crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5))
	case "x-amz-checksum-sha1":
		return sha1.New()
	case "x-amz-checksum-sha256":
		return sha256.New()
	}
	return nil
}

// checksum is one declared digest of the payload.
type checksum struct {
	name    string
	h       hash.Hash
	want    []byte // nil until a trailer delivers it
	trailer bool
}

// payload is a verifying request body.
type payload struct {
	closer  io.Closer
	src     io.Reader
	want    int64 // declared (decoded) length, -1 unknown
	n       int64
	sha     hash.Hash
	wantSHA []byte
	checks  []*checksum
	err     error // sticky
}

func (p *payload) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.src.Read(b)
	if n > 0 {
		if p.sha != nil {
			p.sha.Write(b[:n])
		}
		for _, c := range p.checks {
			c.h.Write(b[:n])
		}
		p.n += int64(n)
		if p.want >= 0 && p.n > p.want {
			n -= int(p.n - p.want) // never hand out more than declared
			p.n = p.want
			p.err = &PayloadError{Reason: LengthMismatch, Msg: "The request body is longer than its declared length."}
			return n, p.err
		}
	}
	switch {
	case err == io.EOF:
		if p.err = p.finish(); p.err == nil {
			p.err = io.EOF
		}
	case err != nil:
		p.err = err
	}
	return n, p.err
}

// finish checks the whole body once it has been read.
func (p *payload) finish() error {
	if p.want >= 0 && p.n != p.want {
		return &PayloadError{Reason: LengthMismatch, Msg: fmt.Sprintf("You did not provide the number of bytes specified by the Content-Length HTTP header (%d of %d).", p.n, p.want)}
	}
	if p.sha != nil && !bytes.Equal(p.sha.Sum(nil), p.wantSHA) {
		return &PayloadError{Reason: PayloadHashMismatch, Msg: "The provided 'x-amz-content-sha256' header does not match what was computed."}
	}
	for _, c := range p.checks {
		if c.want == nil {
			return &PayloadError{Reason: MalformedPayload, Msg: "The trailer " + c.name + " was declared but not sent."}
		}
		if !bytes.Equal(c.h.Sum(nil), c.want) {
			algo := strings.ToUpper(strings.TrimPrefix(strings.TrimPrefix(c.name, "x-amz-checksum-"), "content-"))
			return &PayloadError{Reason: ChecksumMismatch, Msg: "The " + algo + " you specified did not match the calculated checksum."}
		}
	}
	return nil
}

func (p *payload) Close() error {
	if p.closer == nil {
		return nil
	}
	return p.closer.Close()
}

// setTrailer records a trailer value for the declared checksum name.
func (p *payload) setTrailer(name, value string) error {
	for _, c := range p.checks {
		if c.trailer && c.name == name {
			want, err := base64.StdEncoding.DecodeString(value)
			if err != nil || len(want) != c.h.Size() || c.want != nil {
				return &PayloadError{Reason: MalformedPayload, Msg: "The trailer " + name + " is not a valid base64 digest"}
			}
			c.want = want
			return nil
		}
	}
	return &PayloadError{Reason: MalformedPayload, Msg: "The trailer " + strconv.Quote(name) + " was not declared in x-amz-trailer"}
}

// chunkedReader decodes an aws-chunked body:
//
//	signed:   hex-size;chunk-signature=sig CRLF data CRLF ... 0;chunk-signature=sig CRLF [trailers] CRLF
//	unsigned: hex-size CRLF data CRLF ... 0 CRLF [trailers] CRLF
//
// where trailers are "name:value" CRLF lines, followed in signed mode by
// "x-amz-trailer-signature:sig" CRLF. Chunk and trailer signatures are verified as the chain
// goes; the data of a chunk reaches the caller before its signature is checked, and the error
// then stops the stream (so a caller keeps nothing until EOF).
type chunkedReader struct {
	br        *bufio.Reader
	payload   *payload
	signer    *chunkSigner // nil when unsigned
	chunkHash hash.Hash
	trailers  bool  // the mode carries trailers
	remaining int64 // data bytes left in the current chunk
	sig       string
	inChunk   bool
	done      bool
}

func (c *chunkedReader) Read(b []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if !c.inChunk {
		if err := c.nextChunk(); err != nil {
			return 0, err
		}
		if c.done {
			return 0, io.EOF
		}
	}
	if int64(len(b)) > c.remaining {
		b = b[:c.remaining]
	}
	n, err := c.br.Read(b)
	if c.chunkHash != nil {
		c.chunkHash.Write(b[:n])
	}
	c.remaining -= int64(n)
	if err == io.EOF {
		return n, malformed("The request body ended inside a chunk.")
	}
	if err != nil {
		return n, err
	}
	if c.remaining == 0 {
		if err := c.endChunk(); err != nil {
			return n, err
		}
	}
	return n, nil
}

func malformed(msg string) error { return &PayloadError{Reason: MalformedPayload, Msg: msg} }

var errChunkSignature = newError(BadSignature, msgSignatureMismatch)

// nextChunk reads a chunk header; a zero-size chunk ends the body (trailers included).
func (c *chunkedReader) nextChunk() error {
	line, err := c.line()
	if err != nil {
		return err
	}
	sizeText, ext, _ := strings.Cut(line, ";")
	size, err := strconv.ParseInt(strings.TrimSpace(sizeText), 16, 64)
	if err != nil || size < 0 || size > maxChunkSize || len(sizeText) > 16 {
		return malformed("The aws-chunked chunk size is not valid.")
	}
	if c.signer != nil {
		sig, ok := strings.CutPrefix(ext, "chunk-signature=")
		if !ok || !isHex(sig, 64) {
			return malformed("The aws-chunked chunk has no chunk-signature.")
		}
		c.sig = sig
		c.chunkHash.Reset()
	}
	if size > 0 {
		c.remaining, c.inChunk = size, true
		return nil
	}
	if c.signer != nil && !c.signer.verify("AWS4-HMAC-SHA256-PAYLOAD", emptyHash[:], c.sig) {
		return errChunkSignature
	}
	if c.trailers {
		if err := c.readTrailers(); err != nil {
			return err
		}
	} else if line, err := c.line(); err != nil || line != "" {
		return cmpError(err, malformed("The aws-chunked body does not end with an empty line."))
	}
	c.done = true
	return nil
}

// endChunk reads the CRLF after a chunk's data and verifies its signature.
func (c *chunkedReader) endChunk() error {
	c.inChunk = false
	if line, err := c.line(); err != nil || line != "" {
		return cmpError(err, malformed("The aws-chunked chunk data is not followed by CRLF."))
	}
	if c.signer != nil && !c.signer.verify("AWS4-HMAC-SHA256-PAYLOAD", c.chunkHash.Sum(nil), c.sig) {
		return errChunkSignature
	}
	return nil
}

// readTrailers reads trailer lines up to the empty line, verifying the trailer signature in
// signed mode.
func (c *chunkedReader) readTrailers() error {
	var canon strings.Builder
	sig := ""
	for range maxTrailers + 2 {
		line, err := c.line()
		if err != nil {
			return err
		}
		if line == "" {
			if c.signer != nil {
				sum := sha256.Sum256([]byte(canon.String()))
				if sig == "" || !c.signer.verify("AWS4-HMAC-SHA256-TRAILER", sum[:], sig) {
					return errChunkSignature
				}
			}
			return nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return malformed("An aws-chunked trailer is not name:value.")
		}
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		if name == "x-amz-trailer-signature" {
			sig = value
			continue
		}
		canon.WriteString(name + ":" + value + "\n")
		if err := c.payload.setTrailer(name, value); err != nil {
			return err
		}
	}
	return malformed("The aws-chunked body has too many trailers.")
}

// line reads one CRLF-terminated line (at most maxChunkLine bytes) without its CRLF. Some
// clients end the body after the last trailer without the final CRLF; that reads as "".
func (c *chunkedReader) line() (string, error) {
	var buf []byte
	for {
		frag, err := c.br.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > maxChunkLine {
			return "", malformed("An aws-chunked line is too long.")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(buf) == 0 {
			return "", nil
		}
		if err == io.EOF {
			return "", malformed("The request body ended inside an aws-chunked line.")
		}
		if err != nil {
			return "", err
		}
		break
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r")
	return s, nil
}

// cmpError returns err when it is not nil, else fallback.
func cmpError(err, fallback error) error {
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return fallback
}
