package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fhirlake/fhirlake/internal/testenv"
)

func noEnv(string) string { return "" }

func TestParseFlagsEnvFallback(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"FHIRLAKE_DATA_DIR":               "/env/dir",
		"FHIRLAKE_LISTEN":                 "127.0.0.1:1",
		"FHIRLAKE_DATASTORE_CREATE_DELAY": "2s",
		"FHIRLAKE_CREDENTIALS":            "K:S:111111111111",
		"FHIRLAKE_LOG_FORMAT":             "text",
		"FHIRLAKE_METRICS_TOKEN":          "tok",
		"FHIRLAKE_BODY_BUDGET":            "1GiB",
	}
	cfg, lf, err := parseFlags([]string{"--listen", "127.0.0.1:2", "--max-body", "6MiB", "--min-body-rate", "512"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/env/dir" || cfg.Listen != "127.0.0.1:2" || cfg.DatastoreCreateDelay != 2*time.Second ||
		len(cfg.ExtraCredentials) != 1 || cfg.ExtraCredentials[0].AccountID != "111111111111" || cfg.MetricsToken != "tok" {
		t.Errorf("config = %+v", cfg)
	}
	if lf.format != "text" || lf.level != "info" {
		t.Errorf("log flags = %+v", lf)
	}
	if cfg.ProgressLogInterval != 5*time.Second {
		t.Errorf("progress log interval = %v, want the 5s default", cfg.ProgressLogInterval)
	}
	if cfg.MaxBodyBytes != 6<<20 || cfg.BodyBudgetBytes != 1<<30 || cfg.MinBodyRate != 512 {
		t.Errorf("sizes = %d %d %d", cfg.MaxBodyBytes, cfg.BodyBudgetBytes, cfg.MinBodyRate)
	}
	if _, _, err := parseFlags([]string{"--max-body", "50MB"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("--max-body 50MB (not a binary suffix) accepted")
	}
	_, _, err = parseFlags(nil, func(k string) string {
		if k == "FHIRLAKE_MAX_DATASTORES" {
			return "many"
		}
		return ""
	}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "FHIRLAKE_MAX_DATASTORES") {
		t.Errorf("bad env value: err = %v", err)
	}
}

// TestCLI checks the exit status and output of every kind of command line.
func TestCLI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     []string // substrings of standard output
		stderr     []string // substrings of standard error
		quietStdio bool     // nothing on standard output
	}{
		{args: nil, code: 2, stderr: []string{"Usage:", "serve", "version"}, quietStdio: true},
		{args: []string{"help"}, code: 0, stdout: []string{"Usage:", "fhirlake <command>", "serve", "version"}},
		{args: []string{"--help"}, code: 0, stdout: []string{"Usage:"}},
		{args: []string{"-h"}, code: 0, stdout: []string{"Usage:"}},
		{args: []string{"help", "serve"}, code: 0, stdout: []string{"-listen", "-metrics-listen", "-log-format", "FHIRLAKE_"}},
		{args: []string{"serve", "-h"}, code: 0, stdout: []string{"Usage: fhirlake serve", "-data-dir", "-metrics-token", "-progress-log-interval"}},
		{args: []string{"serve", "--help"}, code: 0, stdout: []string{"Usage: fhirlake serve"}},
		{args: []string{"version"}, code: 0, stdout: []string{"fhirlake ", "module   github.com/fhirlake/fhirlake", "commit   ", "go       go1."}},
		{args: []string{"bogus"}, code: 2, stderr: []string{`unknown command "bogus"`, "Usage:"}, quietStdio: true},
		{args: []string{"help", "bogus"}, code: 2, stderr: []string{`no help for "bogus"`}, quietStdio: true},
		{args: []string{"serve", "--bogus"}, code: 2, stderr: []string{"flag provided but not defined: -bogus", "fhirlake serve -h"}, quietStdio: true},
		{args: []string{"serve", "extra"}, code: 2, stderr: []string{`unexpected argument "extra"`}, quietStdio: true},
		{args: []string{"serve", "--log-format", "xml"}, code: 2, stderr: []string{`log format "xml"`}, quietStdio: true},
		{args: []string{"serve", "--log-level", "loud"}, code: 2, stderr: []string{`log level "loud"`}, quietStdio: true},
		{args: []string{"serve", "--listen", "0.0.0.0:0", "--data-dir", t.TempDir()}, code: 2, stderr: []string{"default credentials"}, quietStdio: true},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := cli(context.Background(), tc.args, noEnv, &out, &errb)
			if code != tc.code {
				t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errb.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
			if tc.quietStdio && out.Len() > 0 {
				t.Errorf("stdout = %q, want nothing", out.String())
			}
		})
	}
}

func TestFormatVersion(t *testing.T) {
	t.Parallel()
	got := formatVersion(&debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/fhirlake/fhirlake", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-11-25T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	})
	want := "fhirlake v1.2.3\nmodule   github.com/fhirlake/fhirlake\ncommit   0123abcd (modified) 2026-11-25T10:00:00Z\ngo       go1.26.8 linux/amd64\n"
	if got != want {
		t.Errorf("formatVersion =\n%s\nwant\n%s", got, want)
	}
	if got := formatVersion(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}); !strings.Contains(got, "commit   unknown (built without VCS information)") {
		t.Errorf("without VCS: %s", got)
	}
}

// TestBinary builds the command and checks, as a shell sees them, the exit statuses of help,
// version and an unknown command, and that version names the commit the binary was built from.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "fhirlake")
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, "./cmd/fhirlake")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{{[]string{"--help"}, 0}, {[]string{"help"}, 0}, {[]string{"serve", "-h"}, 0}, {[]string{"version"}, 0}, {[]string{"bogus"}, 2}, {nil, 2}} {
		err := exec.Command(bin, tc.args...).Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code {
			t.Errorf("fhirlake %s: exit status %d, want %d", strings.Join(tc.args, " "), code, tc.code)
		}
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	// Go stamps the commit into binaries built in a plain git clone (not in a linked worktree,
	// whose .git is a file).
	if st, err := os.Stat(filepath.Join(root, ".git")); err != nil || !st.IsDir() {
		t.Logf("not a plain git clone: commit not compared\n%s", out)
		return
	}
	head := exec.Command("git", "rev-parse", "HEAD")
	head.Dir = root
	rev, err := head.Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	if want := "commit   " + strings.TrimSpace(string(rev)); !strings.Contains(string(out), want) {
		t.Errorf("version output lacks %q:\n%s", want, out)
	}
}

func TestLoggerDurationsInMilliseconds(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	log, err := newLogger(&b, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("x", "duration", 1500*time.Millisecond, "after_ms", 2*time.Second, "count", 3)
	var rec map[string]any
	if err := json.Unmarshal(b.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["duration_ms"] != 1500.0 || rec["after_ms"] != 2000.0 || rec["count"] != 3.0 || rec["duration"] != nil {
		t.Errorf("record = %v", rec)
	}
	b.Reset()
	if log, err = newLogger(&b, "text", "debug"); err != nil {
		t.Fatal(err)
	}
	log.Debug("y", "duration", 250*time.Microsecond)
	if !strings.Contains(b.String(), "duration_ms=0.25") || !strings.Contains(b.String(), "level=DEBUG") {
		t.Errorf("text record = %q", b.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the service's concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeServesAndStops starts the service, checks /healthz and /metrics (open on loopback),
// reads its JSON log, and stops it by cancelling the context (what SIGTERM does).
func TestServeServesAndStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	dir := t.TempDir()
	addr := freeAddr(t)
	var logs syncBuffer
	go func() {
		done <- cli(ctx, []string{"serve", "--listen", addr, "--data-dir", dir}, noEnv, io.Discard, &logs)
	}()
	get := func(path string) int {
		var resp *http.Response
		var err error
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
			if resp, err = http.Get("http://" + addr + path); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/healthz"); code != 200 {
		t.Errorf("healthz = %d", code)
	}
	if code := get("/metrics"); code != 200 {
		t.Errorf("metrics on loopback = %d, want 200", code)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit status after stop = %d, want 0\n%s", code, logs.String())
	}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	requests := 0
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if _, ok := rec["duration"]; ok {
			t.Errorf("log line with a unitless duration: %s", sc.Text())
		}
		if rec["msg"] == "request" {
			requests++
			if _, ok := rec["duration_ms"].(float64); !ok {
				t.Errorf("request log without duration_ms: %s", sc.Text())
			}
		}
	}
	if requests < 2 {
		t.Errorf("%d request log lines, want at least 2:\n%s", requests, logs.String())
	}
}

// TestServeMetricsListen serves /metrics on a separate address only.
func TestServeMetricsListen(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	addr, maddr := freeAddr(t), freeAddr(t)
	var logs syncBuffer
	go func() {
		done <- cli(ctx, []string{"serve", "--listen", addr, "--metrics-listen", maddr, "--data-dir", t.TempDir(), "--log-format", "text"}, noEnv, io.Discard, &logs)
	}()
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
		if resp, err = http.Get("http://" + maddr + "/metrics"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "go_goroutines") {
		t.Errorf("metrics listener: %d %.200s", resp.StatusCode, body)
	}
	if resp, err = http.Get("http://" + addr + "/metrics"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the service port with --metrics-listen = %d, want 404", resp.StatusCode)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit status = %d\n%s", code, logs.String())
	}
	if !strings.Contains(logs.String(), "level=INFO msg=\"fhirlake listening\"") || !strings.Contains(logs.String(), "metrics_addr="+maddr) {
		t.Errorf("text log:\n%s", logs.String())
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestKillHookSpec(t *testing.T) {
	t.Parallel()
	if h, err := killHook("", io.Discard); h != nil || err != nil {
		t.Errorf("empty spec = %v, %v; want no hook", h != nil, err)
	}
	for _, bad := range []string{"import.listed:0", "import.listed:x", "import.listed:-1"} {
		if _, err := killHook(bad, io.Discard); err == nil || !strings.Contains(err.Error(), killEnv) {
			t.Errorf("spec %q: err = %v, want one naming %s", bad, err, killEnv)
		}
	}
	// Points other than the named one, and the named one before its n-th time, pass through.
	// (The kill itself is exercised by the server's TestCrashPoints.)
	h, err := killHook("import.committed:3", io.Discard)
	if err != nil || h == nil {
		t.Fatalf("killHook = %v, %v", h != nil, err)
	}
	h("import.listed")
	h("import.committed")
	h("import.committed")
	h("export.committed")
}
