package fhirapi

import (
	"net/http/httptest"
	"testing"
)

func TestInteraction(t *testing.T) {
	t.Parallel()
	const base = "/datastore/0123456789abcdef0123456789abcdef/r4"
	for _, tc := range []struct{ method, path, want string }{
		{"GET", base + "/metadata", "capabilities"},
		{"POST", base + "/", "batch"},
		{"POST", base, "batch"},
		{"GET", base + "/Patient", "search"},
		{"POST", base + "/Patient/_search", "search"},
		{"POST", base + "/Patient", "create"},
		{"GET", base + "/Patient/_history", "history-type"},
		{"GET", base + "/Patient/p1", "read"},
		{"HEAD", base + "/Patient/p1", "read"},
		{"PUT", base + "/Patient/p1", "update"},
		{"PATCH", base + "/Patient/p1", "patch"},
		{"DELETE", base + "/Patient/p1", "delete"},
		{"GET", base + "/Patient/p1/_history", "history-instance"},
		{"GET", base + "/Patient/p1/_history/2", "vread"},
		{"GET", base + "/$export", "export"},
		{"POST", base + "/Patient/$export", "export"},
		{"GET", base + "/Group/g1/$export", "export"},
		{"GET", base + "/export/0123", "export-status"},
		{"DELETE", base + "/export/0123", "export-cancel"},
		{"GET", base + "/Patient/$everything", "unknown"},
		{"GET", base + "/Patient/p1/other", "unknown"},
		{"GET", "/datastore/x/r5/Patient", "unknown"},
		{"GET", "/elsewhere", "unknown"},
		{"DELETE", base, "unknown"},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if got := Interaction(r); got != tc.want {
			t.Errorf("%s %s = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}
