package sigv4

import (
	"net/http/httptest"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/datastore/abc/r4/Patient", "/datastore/abc/r4/Patient"},
		{"/datastore/abc/r4/", "/datastore/abc/r4/"},
		{"/a//b///c", "/a/b/c"},
		{"/a/./b/../c/", "/a/c/"},
		{"/..", "/"},
		{"/./", "/"},
		{"/.well-known/smart", "/.well-known/smart"},
		{"/a/%2E%2E/b", "/a/%2E%2E/b"}, // encoded dots are not dot segments
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := normalizePath(tt.in); got != tt.want {
				t.Errorf("normalizePath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonicalQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, want string
		wantErr         bool
	}{
		{name: "empty", raw: "", want: ""},
		{name: "sorted by name then value", raw: "b=2&a=3&a=1", want: "a=1&a=3&b=2"},
		{name: "sorted after encoding", raw: "k=a-b&k=a/b", want: "k=a%2Fb&k=a-b"},
		{name: "plus and %20 are spaces", raw: "q=a+b&r=a%20b", want: "q=a%20b&r=a%20b"},
		{name: "literal plus", raw: "q=a%2Bb", want: "q=a%2Bb"},
		{name: "reserved characters encoded", raw: "code=http://loinc.org|1234-5", want: "code=http%3A%2F%2Floinc.org%7C1234-5"},
		{name: "lowercase escapes upper-cased", raw: "x=%7c", want: "x=%7C"},
		{name: "unreserved escapes decoded", raw: "x=%41%7E", want: "x=A~"},
		{name: "key without value", raw: "_summary&_count=1", want: "_count=1&_summary="},
		{name: "empty pieces skipped", raw: "&a=1&&b=2&", want: "a=1&b=2"},
		{name: "utf-8", raw: "name=J%C3%BCrgen", want: "name=J%C3%BCrgen"},
		{name: "bad escape", raw: "a=%zz", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := canonicalQuery(tt.raw)
			if (err != nil) != tt.wantErr {
				t.Fatalf("canonicalQuery(%q) error = %v, want error %v", tt.raw, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("canonicalQuery(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func TestCanonicalRequest(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/datastore/abc/r4/Patient%20x/$export?b=2&a=1", nil)
	r.Host = "h:1"
	r.Header.Add("X-Multi", " one ")
	r.Header.Add("X-Multi", "two  three")
	r.Header.Set("X-Amz-Date", "20240501T120000Z")
	a := authorization{signedHeaders: "host;x-amz-date;x-missing;x-multi", headers: []string{"host", "x-amz-date", "x-missing", "x-multi"}}
	got, err := canonicalRequest(r, &a, emptySHA256)
	if err != nil {
		t.Fatal(err)
	}
	want := "GET\n" +
		"/datastore/abc/r4/Patient%2520x/%24export\n" +
		"a=1&b=2\n" +
		"host:h:1\n" +
		"x-amz-date:20240501T120000Z\n" +
		"x-missing:\n" +
		"x-multi:one,two three\n" +
		"\n" +
		"host;x-amz-date;x-missing;x-multi\n" +
		emptySHA256
	if got != want {
		t.Errorf("canonicalRequest =\n%s\nwant\n%s", got, want)
	}
}
