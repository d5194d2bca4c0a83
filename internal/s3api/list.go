package s3api

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/fhirlake/fhirlake/internal/s3io"
)

type listResult struct {
	XMLName               xml.Name       `xml:"ListBucketResult"`
	NS                    string         `xml:"xmlns,attr"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	Marker                *string        `xml:"Marker,omitempty"`
	NextMarker            string         `xml:"NextMarker,omitempty"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	KeyCount              *int           `xml:"KeyCount,omitempty"`
	MaxKeys               int            `xml:"MaxKeys"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	Contents              []listItem     `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

type listItem struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	Owner        *owner `xml:"Owner,omitempty"`
	StorageClass string `xml:"StorageClass"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

// maxListKeys is S3's page size limit.
const maxListKeys = 1000

// pastPrefix is the smallest string above every UTF-8 key that starts with p: 0xff never occurs
// in UTF-8.
func pastPrefix(p string) string { return p + "\xff" }

// listObjects answers ListObjectsV2 (list-type=2) and ListObjects. Keys come in byte order from
// the folder walk; with a delimiter, each common prefix is reported once and the walk skips
// past it. A page ends after max-keys keys and prefixes; V2's continuation token is the
// position to resume after (opaque to clients), V1's NextMarker the last key or prefix.
func (h *Handler) listObjects(q *request) error {
	v2 := q.query.Get("list-type") == "2"
	prefix, delim := q.query.Get("prefix"), q.query.Get("delimiter")
	maxKeys := maxListKeys
	if s := q.query.Get("max-keys"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return invalidArgument("max-keys must be a non-negative integer")
		}
		maxKeys = min(n, maxListKeys)
	}
	encoding := q.query.Get("encoding-type")
	if encoding != "" && encoding != "url" {
		return invalidArgument("Invalid Encoding Method specified in Request")
	}
	enc := func(s string) string {
		if encoding == "url" {
			return url.QueryEscape(s)
		}
		return s
	}
	out := listResult{NS: s3NS, Name: q.bucket, Prefix: enc(prefix), Delimiter: enc(delim), MaxKeys: maxKeys, EncodingType: encoding}
	after := ""
	if v2 {
		startAfter := q.query.Get("start-after")
		out.StartAfter = enc(startAfter)
		after = startAfter
		if tok := q.query.Get("continuation-token"); tok != "" {
			b, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil {
				return invalidArgument("The continuation token provided is incorrect")
			}
			out.ContinuationToken = tok
			after = max(after, string(b))
		}
	} else {
		marker := q.query.Get("marker")
		out.Marker = &marker
		after = marker
		if delim != "" && strings.HasSuffix(marker, delim) {
			after = pastPrefix(marker) // the marker is a common prefix: skip what it stands for
		}
		*out.Marker = enc(marker)
	}
	fetchOwner := q.query.Get("fetch-owner") == "true" || !v2
	count, resume, last := 0, "", ""
	err := q.st.Walk(q.r.Context(), q.bucket, prefix, after, func(o s3io.Object) (string, error) {
		if count >= maxKeys {
			out.IsTruncated = true
			return "", errStopList
		}
		count++
		if delim != "" {
			if i := strings.Index(o.Key[len(prefix):], delim); i >= 0 {
				cp := o.Key[:len(prefix)+i+len(delim)]
				out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: enc(cp)})
				resume, last = pastPrefix(cp), cp
				return resume, nil
			}
		}
		item := listItem{Key: enc(o.Key), LastModified: o.ModTime.UTC().Format(timeFormat), ETag: etag(o), Size: o.Size, StorageClass: "STANDARD"}
		if fetchOwner {
			item.Owner = &owner{ID: q.id.AccountID, DisplayName: q.id.AccountID}
		}
		out.Contents = append(out.Contents, item)
		resume, last = o.Key, o.Key
		return "", nil
	})
	if err != nil && !errors.Is(err, errStopList) {
		return err
	}
	if v2 {
		out.KeyCount = &count
		if out.IsTruncated {
			out.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(resume))
		}
	} else if out.IsTruncated {
		out.NextMarker = enc(last)
	}
	writeXML(q.w, http.StatusOK, out)
	return nil
}
