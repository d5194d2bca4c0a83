package s3api

import (
	"encoding/xml"
	"net/http"
	"strconv"

	"github.com/fhirlake/fhirlake/internal/s3io"
)

type initiateResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	NS       string   `xml:"xmlns,attr"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

func (h *Handler) createUpload(q *request) error {
	id, err := q.st.CreateUpload(q.r.Context(), q.bucket, q.key)
	if err != nil {
		return err
	}
	if a := q.r.Header.Get("X-Amz-Checksum-Algorithm"); a != "" {
		q.w.Header().Set("X-Amz-Checksum-Algorithm", a)
	}
	writeXML(q.w, http.StatusOK, initiateResult{NS: s3NS, Bucket: q.bucket, Key: q.key, UploadID: id})
	return nil
}

func (h *Handler) uploadPart(q *request) error {
	n, err := strconv.Atoi(q.query.Get("partNumber"))
	if err != nil || n < 1 || n > s3io.MaxPartNumber {
		return invalidArgument("Part number must be an integer between 1 and 10000, inclusive")
	}
	body, err := h.body(q)
	if err != nil {
		return err
	}
	p, err := q.st.UploadPart(q.r.Context(), q.bucket, q.key, q.query.Get("uploadId"), n, body)
	if err != nil {
		return err
	}
	q.w.Header().Set("ETag", `"`+p.ETag+`"`)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

type completeRequest struct {
	Parts []struct {
		PartNumber int    `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
	} `xml:"Part"`
}

type completeResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	NS       string   `xml:"xmlns,attr"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

func (h *Handler) completeUpload(q *request) error {
	var in completeRequest
	if err := readXML(q.r, &in); err != nil {
		return err
	}
	if len(in.Parts) == 0 || len(in.Parts) > s3io.MaxPartNumber {
		return malformedXML()
	}
	parts := make([]s3io.Part, len(in.Parts))
	for i, p := range in.Parts {
		parts[i] = s3io.Part{Number: p.PartNumber, ETag: p.ETag}
	}
	o, err := q.st.CompleteUpload(q.r.Context(), q.bucket, q.key, q.query.Get("uploadId"), parts)
	if err != nil {
		return err
	}
	writeXML(q.w, http.StatusOK, completeResult{NS: s3NS, Location: "/" + q.bucket + "/" + q.key, Bucket: q.bucket, Key: q.key, ETag: etag(o)})
	return nil
}

func (h *Handler) abortUpload(q *request) error {
	if err := q.st.AbortUpload(q.r.Context(), q.bucket, q.key, q.query.Get("uploadId")); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}
