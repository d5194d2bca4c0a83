package s3io

import "testing"

func TestParseURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		uri        string
		wantBucket string
		wantKey    string
		wantErr    bool
	}{
		{"bucket only", "s3://my-bucket", "my-bucket", "", false},
		{"bucket slash", "s3://my-bucket/", "my-bucket", "", false},
		{"prefix", "s3://my-bucket/input/2024/", "my-bucket", "input/2024/", false},
		{"key", "s3://my.bucket/a/b.ndjson", "my.bucket", "a/b.ndjson", false},
		{"key kept literally", "s3://bkt/a%20b?x#y", "bkt", "a%20b?x#y", false},
		{"double slash", "s3://bkt//k", "bkt", "/k", false},
		{"empty", "", "", "", true},
		{"no bucket", "s3://", "", "", true},
		{"no bucket with key", "s3:///key", "", "", true},
		{"other scheme", "https://bkt/key", "", "", true},
		{"upper scheme", "S3://bkt/key", "", "", true},
		{"no scheme", "bkt/key", "", "", true},
		{"bucket upper case", "s3://Bucket/key", "", "", true},
		{"bucket underscore", "s3://my_bucket/key", "", "", true},
		{"bucket too short", "s3://ab/key", "", "", true},
		{"bucket too long", "s3://" + string(make([]byte, 64)), "", "", true},
		{"bucket leading dash", "s3://-bkt/key", "", "", true},
		{"bucket trailing dot", "s3://bkt./key", "", "", true},
		{"bucket double dot", "s3://b..kt/key", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bucket, key, err := ParseURI(tt.uri)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseURI(%q): got error %v, want error %v", tt.uri, err, tt.wantErr)
			}
			if bucket != tt.wantBucket || key != tt.wantKey {
				t.Errorf("ParseURI(%q) = %q, %q; want %q, %q", tt.uri, bucket, key, tt.wantBucket, tt.wantKey)
			}
		})
	}
}
