package s3io

import (
	"fmt"
	"strings"
)

// uriScheme is the only scheme ParseURI accepts, in the lower case that
// HealthLake and the AWS CLI use.
const uriScheme = "s3://"

// ParseURI splits an S3 URI such as "s3://bucket/path/to/prefix" into its
// bucket and key. The key is everything after the first slash following the
// bucket, taken literally (no percent-decoding); it is "" for "s3://bucket"
// and "s3://bucket/". The bucket must follow the S3 naming rules.
func ParseURI(uri string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(uri, uriScheme)
	if !ok {
		return "", "", fmt.Errorf("parse %q: scheme must be %s", uri, uriScheme)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if err := checkBucket(bucket); err != nil {
		return "", "", fmt.Errorf("parse %q: %w", uri, err)
	}
	return bucket, key, nil
}

// checkBucket reports whether name follows the S3 bucket naming rules for
// general purpose buckets: 3 to 63 characters of lower-case letters, digits,
// '.' and '-', beginning and ending with a letter or digit, and no "..".
// These rules also make every valid name a safe single path segment.
func checkBucket(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return fmt.Errorf("%w %q: length must be 3 to 63", ErrInvalidBucket, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		switch {
		case alnum:
		case (c == '.' || c == '-') && i > 0 && i < len(name)-1:
		default:
			return fmt.Errorf("%w %q: unexpected %q at %d", ErrInvalidBucket, name, c, i)
		}
	}
	if strings.Contains(name, "..") {
		return fmt.Errorf("%w %q: adjacent periods", ErrInvalidBucket, name)
	}
	return nil
}
