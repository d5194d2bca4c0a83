package fhir

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSetMeta(t *testing.T) {
	t.Parallel()
	ts := time.Date(2020, 11, 23, 6, 24, 13, 202_000_000, time.UTC)
	const meta = `"meta":{"versionId":"7","lastUpdated":"2020-11-23T06:24:13.202Z"}`
	cases := []struct {
		name    string
		in      string
		version string
		at      time.Time
		want    string
		err     error
	}{
		{"no meta, after id", `{"resourceType":"Patient","id":"a","active":true}`, "7", ts,
			`{"resourceType":"Patient","id":"a",` + meta + `,"active":true}`, nil},
		{"no meta, no id", `{"resourceType":"Patient","active":true}`, "7", ts,
			`{"resourceType":"Patient",` + meta + `,"active":true}`, nil},
		{"no meta, id last", `{"resourceType":"Patient","id":"a"}`, "7", ts,
			`{"resourceType":"Patient","id":"a",` + meta + `}`, nil},
		{"no meta, no envelope", `{"active":true}`, "7", ts,
			`{` + meta + `,"active":true}`, nil},
		{"empty object", ` { } `, "7", ts, ` {` + meta + ` } `, nil},
		{"replace both in place", `{"resourceType":"Patient","meta":{"profile":["p"],"versionId":"1","source":"s","lastUpdated":"2019-01-01T00:00:00Z","tag":[]},"id":"a"}`, "7", ts,
			`{"resourceType":"Patient","meta":{"profile":["p"],"versionId":"7","source":"s","lastUpdated":"2020-11-23T06:24:13.202Z","tag":[]},"id":"a"}`, nil},
		{"insert both at start", `{"resourceType":"Patient","id":"a","meta":{"profile":["p"]}}`, "7", ts,
			`{"resourceType":"Patient","id":"a","meta":{"versionId":"7","lastUpdated":"2020-11-23T06:24:13.202Z","profile":["p"]}}`, nil},
		{"insert one, replace other", `{"resourceType":"Patient","id":"a","meta":{"versionId":"1","source":"s"}}`, "7", ts,
			`{"resourceType":"Patient","id":"a","meta":{"lastUpdated":"2020-11-23T06:24:13.202Z","versionId":"7","source":"s"}}`, nil},
		{"empty meta", `{"resourceType":"Patient","id":"a","meta":{ }}`, "7", ts,
			`{"resourceType":"Patient","id":"a","meta":{"versionId":"7","lastUpdated":"2020-11-23T06:24:13.202Z" }}`, nil},
		{"whitespace kept", "{ \"resourceType\" : \"Patient\" ,\n \"meta\" : { \"versionId\" : \"1\" } }", "7", ts,
			"{ \"resourceType\" : \"Patient\" ,\n \"meta\" : {\"lastUpdated\":\"2020-11-23T06:24:13.202Z\", \"versionId\" : \"7\" } }", nil},
		{"version escaped", `{"resourceType":"Patient","id":"a"}`, "a\"b\\", ts,
			`{"resourceType":"Patient","id":"a","meta":{"versionId":"a\"b\\","lastUpdated":"2020-11-23T06:24:13.202Z"}}`, nil},
		{"time to UTC, ms", `{"resourceType":"Patient","id":"a"}`, "1", time.Date(2021, 1, 2, 3, 4, 5, 6_789_000, time.FixedZone("x", 3600)),
			`{"resourceType":"Patient","id":"a","meta":{"versionId":"1","lastUpdated":"2021-01-02T02:04:05.006Z"}}`, nil},
		{"not an object", `["a"]`, "1", ts, "", ErrNotJSONObject},
		{"trailing garbage", `{"id":"a"} x`, "1", ts, "", ErrNotJSONObject},
		{"truncated", `{"id":"a"`, "1", ts, "", ErrNotJSONObject},
		{"malformed nested", `{"id":"a","x":[1,]}`, "1", ts, "", ErrNotJSONObject},
		{"meta not object", `{"id":"a","meta":"x"}`, "1", ts, "", ErrMetaNotObject},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := SetMeta([]byte(c.in), c.version, c.at)
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			if diff := cmp.Diff(c.want, string(got)); c.err == nil && diff != "" {
				t.Errorf("SetMeta mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
