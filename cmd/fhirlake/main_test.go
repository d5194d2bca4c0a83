package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsEnvFallback(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"FHIRLAKE_DATA_DIR":               "/env/dir",
		"FHIRLAKE_LISTEN":                 "127.0.0.1:1",
		"FHIRLAKE_DATASTORE_CREATE_DELAY": "2s",
		"FHIRLAKE_CREDENTIALS":            "K:S:111111111111",
	}
	cfg, _, err := parseFlags([]string{"--listen", "127.0.0.1:2"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/env/dir" || cfg.Listen != "127.0.0.1:2" || cfg.DatastoreCreateDelay != 2*time.Second ||
		len(cfg.ExtraCredentials) != 1 || cfg.ExtraCredentials[0].AccountID != "111111111111" {
		t.Errorf("config = %+v", cfg)
	}
	if _, _, err := parseFlags(nil, func(k string) string {
		if k == "FHIRLAKE_MAX_DATASTORES" {
			return "many"
		}
		return ""
	}, io.Discard); err == nil || !strings.Contains(err.Error(), "FHIRLAKE_MAX_DATASTORES") {
		t.Errorf("bad env value: err = %v", err)
	}
}

func TestRunRefusesUnsafeListen(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"serve", "--listen", "0.0.0.0:0", "--data-dir", t.TempDir()}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "default credentials") {
		t.Fatalf("run = %v, want a refusal", err)
	}
	if err := run(context.Background(), []string{"bogus"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("unknown command accepted")
	}
}

// TestRunServesAndStops starts the service, checks /healthz, and stops it by cancelling the
// context (what SIGTERM does).
func TestRunServesAndStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	go func() {
		done <- run(ctx, []string{"serve", "--listen", addr, "--data-dir", dir}, func(string) string { return "" }, io.Discard)
	}()
	var resp *http.Response
	for i := 0; i < 200; i++ {
		resp, err = http.Get("http://" + addr + "/healthz")
		if err == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz = %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run after stop = %v, want nil", err)
	}
}
