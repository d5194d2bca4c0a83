package s3api

import (
	"encoding/xml"
	"io"
	"net/http"
	"time"
)

// s3NS is the namespace of S3's XML documents.
const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// timeFormat is the ISO 8601 form of times in S3 XML.
const timeFormat = "2006-01-02T15:04:05.000Z"

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

type listBucketsResult struct {
	XMLName xml.Name     `xml:"ListAllMyBucketsResult"`
	NS      string       `xml:"xmlns,attr"`
	Owner   owner        `xml:"Owner"`
	Buckets []bucketItem `xml:"Buckets>Bucket"`
}

type bucketItem struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
	BucketRegion string `xml:"BucketRegion,omitempty"`
}

func (h *Handler) listBuckets(q *request) error {
	buckets, err := q.st.Buckets()
	if err != nil {
		return err
	}
	out := listBucketsResult{NS: s3NS, Owner: owner{ID: q.id.AccountID, DisplayName: q.id.AccountID}, Buckets: []bucketItem{}}
	for _, b := range buckets {
		out.Buckets = append(out.Buckets, bucketItem{Name: b.Name, CreationDate: b.Created.UTC().Format(timeFormat), BucketRegion: b.Region})
	}
	writeXML(q.w, http.StatusOK, out)
	return nil
}

type createBucketConfiguration struct {
	LocationConstraint string `xml:"LocationConstraint"`
}

// maxConfigBody bounds the small XML request bodies (bucket configuration, delete lists,
// multipart completion lists).
const maxConfigBody = 2 << 20

// readXML decodes a small XML request body into v; an empty body leaves v as it is.
func readXML(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxConfigBody+1))
	if err != nil {
		return err
	}
	if len(b) > maxConfigBody {
		return errEntityTooLarge
	}
	if len(b) == 0 {
		return nil
	}
	if err := xml.Unmarshal(b, v); err != nil {
		return malformedXML()
	}
	return nil
}

func (h *Handler) createBucket(q *request) error {
	var cfg createBucketConfiguration
	if err := readXML(q.r, &cfg); err != nil {
		return err
	}
	region := cfg.LocationConstraint
	if region == "" {
		region = q.id.Region
	}
	if err := q.st.CreateBucket(q.bucket, region); err != nil {
		return err
	}
	q.w.Header().Set("Location", "/"+q.bucket)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) headBucket(q *request) error {
	b, err := q.st.Bucket(q.bucket)
	if err != nil {
		return err
	}
	q.w.Header().Set("X-Amz-Bucket-Region", regionOf(b.Region))
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// regionOf is the region a bucket reports: its own, or us-east-1 for one made by hand.
func regionOf(r string) string {
	if r == "" {
		return "us-east-1"
	}
	return r
}

func (h *Handler) deleteBucket(q *request) error {
	if err := q.st.DeleteBucket(q.r.Context(), q.bucket); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

type locationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	NS      string   `xml:"xmlns,attr"`
	Region  string   `xml:",chardata"`
}

func (h *Handler) bucketLocation(q *request) error {
	b, err := q.st.Bucket(q.bucket)
	if err != nil {
		return err
	}
	region := b.Region
	if region == "us-east-1" {
		region = "" // S3's spelling of us-east-1
	}
	writeXML(q.w, http.StatusOK, locationConstraint{NS: s3NS, Region: region})
	return nil
}

// httpTime formats t for Last-Modified.
func httpTime(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
