package config

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"defaults", func(*Config) {}, ""},
		{"loopback v6", func(c *Config) { c.Listen = "[::1]:4599" }, ""},
		{"non-loopback with default credentials", func(c *Config) { c.Listen = "0.0.0.0:4599" }, "refusing to listen"},
		{"non-loopback with own credentials", func(c *Config) {
			c.Listen, c.AccessKeyID, c.SecretAccessKey = "0.0.0.0:4599", "AKIDPROD", "s3cr3t-value"
		}, ""},
		{"non-loopback with a default extra credential", func(c *Config) {
			c.Listen, c.AccessKeyID, c.SecretAccessKey = "0.0.0.0:4599", "AKIDPROD", "s3cr3t-value"
			c.ExtraCredentials = []Credential{{AccessKeyID: "x", SecretAccessKey: DefaultSecretAccessKey, AccountID: "111111111111"}}
		}, "refusing to listen"},
		{"bad listen", func(c *Config) { c.Listen = "nope" }, "listen"},
		{"bad account", func(c *Config) { c.AccountID = "123" }, "12 digits"},
		{"bad public url", func(c *Config) { c.PublicURL = "ftp://x" }, "public URL"},
		{"short lease", func(c *Config) { c.JobLease = 0 }, "lease"},
		{"no fault timeout", func(c *Config) { c.JobFaultTimeout = 0 }, "fault timeout"},
		{"no max body", func(c *Config) { c.MaxBodyBytes = 0 }, "max body"},
		{"budget below two bodies", func(c *Config) { c.BodyBudgetBytes = c.MaxBodyBytes }, "body budget"},
		{"no idle timeout", func(c *Config) { c.IdleTimeout = 0 }, "timeouts"},
		{"no min body rate", func(c *Config) { c.MinBodyRate = 0 }, "min body rate"},
		{"unknown store", func(c *Config) { c.Store = "mysql://x" }, "store"},
		{"postgres with the local S3 folder", func(c *Config) { c.Store = "postgres://db/x" }, "--s3-dir-shared"},
		{"postgres with a shared S3 folder", func(c *Config) { c.Store, c.S3DirShared = "postgres://db/x", true }, ""},
		{"postgres with an S3 endpoint", func(c *Config) { c.Store, c.S3Endpoint = "postgresql://db/x", "http://127.0.0.1:9000" }, ""},
		{"postgres with a one-connection pool", func(c *Config) {
			c.Store, c.S3DirShared, c.StorePoolSize = "postgres://db/x", true, 1
		}, "pool size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.edit(&c)
			err := c.Validate()
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
	c := Default()
	c.Validate()
	if c.PublicURL != "http://127.0.0.1:4599" || !strings.HasSuffix(c.S3Dir, "s3") || !strings.HasSuffix(c.StorePath(), "fhirlake.db") {
		t.Errorf("derived defaults = %q %q %q", c.PublicURL, c.S3Dir, c.StorePath())
	}
}

func TestParseCredentials(t *testing.T) {
	t.Parallel()
	got, err := ParseCredentials("A:B:111111111111, C:D:222222222222")
	if err != nil || len(got) != 2 || got[1].AccountID != "222222222222" {
		t.Fatalf("ParseCredentials = %v, %v", got, err)
	}
	if _, err := ParseCredentials("A:B"); err == nil {
		t.Error("missing account accepted")
	}
}
