package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/healthlake"
	"github.com/chromedp/chromedp"

	"github.com/fhirlake/fhirlake/internal/config"
	"github.com/fhirlake/fhirlake/internal/server/servertest"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

// chromium starts a headless Chromium with a fresh profile, or skips the test when there is none
// (.ci/run installs Debian's chromium).
func chromium(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (apt-get install -y chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs browser steps with a deadline, failing the test with a screenshot on error.
func run(t *testing.T, ctx context.Context, shots *shooter, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	get(t, ctx, shots, what, chromedp.Steps(steps...))
}

// get runs one browser action with a deadline and returns its value.
func get[T any](t *testing.T, ctx context.Context, shots *shooter, what string, a chromedp.Action[T]) T {
	t.Helper()
	// Generous for a loaded machine; the whole test takes seconds on an idle one.
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		shots.take(ctx, "failed-"+strings.ReplaceAll(what, " ", "-"))
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(lctx, chromedp.Location())
		t.Fatalf("%s (at %s): %v", what, loc, err)
	}
	return v
}

// shooter saves numbered full-page screenshots in the test's artifact directory.
type shooter struct {
	t   *testing.T
	dir string
	n   int
}

func (s *shooter) take(ctx context.Context, name string) {
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Logf("screenshot %s: %v", name, err)
		return
	}
	s.n++
	path := filepath.Join(s.dir, fmt.Sprintf("%02d-%s.png", s.n, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		s.t.Logf("screenshot %s: %v", name, err)
	}
}

// css selects by a CSS selector.
func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// TestConsoleInChromium drives the console as a person would: sign in, create a data store,
// upload Synthea through the S3 browser, start an import picking the prefix in the browser, watch
// the progress bar reach COMPLETED, open a FAILURE line of a mixed file with its OperationOutcome,
// and search Patients. It also checks that a browser without a session gets the sign-in page and
// that a forged cross-origin request is refused.
func TestConsoleInChromium(t *testing.T) {
	t.Parallel()
	shared := testenv.SharedDir(t)
	ctx := chromium(t)
	ts := servertest.Start(t, servertest.NewConfig(t))
	shots := &shooter{t: t, dir: t.ArtifactDir()}
	t.Logf("screenshots in %s", shots.dir)
	base := ts.URL + "/console/"

	// Without a session the console answers with the sign-in page.
	run(t, ctx, shots, "open console", chromedp.Navigate(base), chromedp.WaitVisible(css("#login-form")))
	loc := get(t, ctx, shots, "location", chromedp.Location())
	if loc != ts.URL+"/console/login" {
		t.Errorf("without a session the console went to %s", loc)
	}
	shots.take(ctx, "sign-in")
	run(t, ctx, shots, "wrong secret",
		chromedp.SendKeys(css("#access_key_id"), config.DefaultAccessKeyID),
		chromedp.SendKeys(css("#secret_access_key"), "wrong"),
		chromedp.Click(css("#sign-in")),
		chromedp.WaitVisible(css("#login-error")))

	// Sign in.
	run(t, ctx, shots, "sign in",
		chromedp.SetValue(css("#access_key_id"), config.DefaultAccessKeyID),
		chromedp.SetValue(css("#secret_access_key"), config.DefaultSecretAccessKey),
		chromedp.Click(css("#sign-in")),
		chromedp.WaitVisible(css("#stores")))

	// Create a data store and wait until it is ACTIVE.
	run(t, ctx, shots, "create data store",
		chromedp.SendKeys(css("#new-store-name"), "e2e"),
		chromedp.Click(css("#create-store-btn")),
		chromedp.WaitVisible(css(`#store-rows tr[data-status="ACTIVE"]`)))
	dsID := get(t, ctx, shots, "data store id", chromedp.AttributeValue(css(`#store-rows tr[data-status="ACTIVE"]`), "data-id")).Value
	shots.take(ctx, "data-stores")

	// Upload Synthea and a mixed file through the S3 browser.
	synthea, err := filepath.Glob(filepath.Join(shared, "data", "synthea", "*.ndjson"))
	if err != nil || len(synthea) == 0 {
		t.Fatalf("synthea files: %v %v", synthea, err)
	}
	sort.Strings(synthea)
	mixedDir := t.TempDir()
	mixed := filepath.Join(mixedDir, "mixed.ndjson")
	os.WriteFile(mixed, []byte(`{"resourceType":"Patient","id":"m1","gender":"female"}`+"\n"+
		`{"resourceType":"Patient","id":"bad id!"}`+"\n"+
		`{"resourceType":"Patient","id":"m2","birthDate":"1990-13-45"}`+"\n"), 0o644)
	upload := func(name string, files []string, sub string) {
		run(t, ctx, shots, "upload "+name,
			chromedp.WaitVisible(css("#s3-upload")),
			chromedp.SetUploadFiles(css("#s3-files"), files),
			chromedp.SetValue(css("#s3-subfolder"), sub),
			chromedp.Click(css("#s3-upload-btn")),
			chromedp.WaitVisible(css(fmt.Sprintf(`#s3-entries li[data-key="%s/%s"]`, sub, filepath.Base(files[len(files)-1])))))
	}
	run(t, ctx, shots, "S3 browser", chromedp.Click(css("#nav-s3")), chromedp.WaitVisible(css("#create-bucket")))
	run(t, ctx, shots, "create output bucket",
		chromedp.SendKeys(css("#new-bucket"), "fhir-out"), chromedp.Click(css("#create-bucket button")), chromedp.WaitVisible(css("#s3-upload")),
		chromedp.Navigate(base+"#/s3"), chromedp.WaitVisible(css(`a.folder[data-bucket="fhir-out"]`)))
	run(t, ctx, shots, "create input bucket",
		chromedp.SendKeys(css("#new-bucket"), "fhir-in"), chromedp.Click(css("#create-bucket button")), chromedp.WaitVisible(css("#s3-upload")))
	upload("synthea", synthea, "synthea")
	shots.take(ctx, "uploaded")
	run(t, ctx, shots, "back to bucket", chromedp.Navigate(base+"#/s3/fhir-in/"), chromedp.WaitVisible(css(`a.folder[data-prefix="synthea/"]`)))
	upload("mixed", []string{mixed}, "mixed")

	// Start an import of synthea, picking the input folder in the S3 browser.
	run(t, ctx, shots, "import form",
		chromedp.Navigate(base+"#/ds/"+dsID+"/import"),
		chromedp.WaitVisible(css("#import-form")),
		chromedp.Click(css(`button[data-browse="import-input"]`)),
		chromedp.WaitVisible(css(`#picker a.folder[data-bucket="fhir-in"]`)),
		chromedp.Click(css(`#picker a.folder[data-bucket="fhir-in"]`)),
		chromedp.WaitVisible(css(`#picker a.folder[data-prefix="synthea/"]`)),
		chromedp.Click(css(`#picker a.folder[data-prefix="synthea/"]`)),
		chromedp.WaitVisible(css(`#picker #s3-use`)))
	shots.take(ctx, "pick-prefix")
	run(t, ctx, shots, "pick prefix", chromedp.Click(css(`#picker #s3-use`)), chromedp.WaitNotVisible(css("#picker")))
	input := get(t, ctx, shots, "input", chromedp.Value(css("#import-input")))
	if input != "s3://fhir-in/synthea/" {
		t.Fatalf("picked input = %q", input)
	}
	run(t, ctx, shots, "start import",
		chromedp.SetValue(css("#import-output"), "s3://fhir-out/imports/"),
		chromedp.SetValue(css("#import-name"), "synthea"),
		chromedp.Click(css("#import-start")),
		chromedp.WaitVisible(css("article.job[data-status]")))
	samples := watchJob(t, ctx, shots, "synthea")
	t.Logf("progress seen: %v", samples)
	last := samples[len(samples)-1]
	if last.Status != "COMPLETED" || last.Value != 100 {
		t.Fatalf("last progress sample = %+v, want COMPLETED at 100", last)
	}
	imported := get(t, ctx, shots, "imported", chromedp.Text(css(`[data-counter="TotalNumberOfResourcesImported"]`)))
	scanned := get(t, ctx, shots, "scanned", chromedp.Text(css(`[data-counter="TotalNumberOfScannedFiles"]`)))
	if imported != "8,315" || scanned != fmt.Sprint(len(synthea)) {
		t.Errorf("counters: imported %q, files %q", imported, scanned)
	}
	get(t, ctx, shots, "manifest shown", chromedp.Poll[bool](`document.querySelector('#manifest') && document.querySelector('#manifest').textContent.includes('numberOfResourcesImportedSuccessfully')`))
	manifest := get(t, ctx, shots, "manifest", chromedp.Text(css("#manifest")))
	if !strings.Contains(manifest, `"numberOfResourcesImportedSuccessfully": 8315`) {
		t.Errorf("manifest = %s", manifest)
	}
	shots.take(ctx, "import-completed")

	// Import the mixed file and open one of its FAILURE lines.
	run(t, ctx, shots, "mixed import",
		chromedp.Navigate(base+"#/ds/"+dsID+"/import"),
		chromedp.WaitVisible(css("#import-form")),
		chromedp.SetValue(css("#import-input"), "s3://fhir-in/mixed/"),
		chromedp.SetValue(css("#import-output"), "s3://fhir-out/imports/"),
		chromedp.Click(css("#import-start")),
		chromedp.WaitVisible(css(`article.job[data-status="COMPLETED_WITH_ERRORS"]`)),
		chromedp.WaitVisible(css(`#output-files tr[data-key="FAILURE/mixed.ndjson"] button`)),
		chromedp.Click(css(`#output-files tr[data-key="FAILURE/mixed.ndjson"] button`)),
		chromedp.WaitVisible(css(`tr.failure-line[data-line="2"]`)),
		chromedp.Click(css(`tr.failure-line[data-line="2"] button[data-action="outcome"]`)),
		chromedp.WaitVisible(css(`tr.failure-line[data-line="2"] pre.outcome`)))
	outcome := get(t, ctx, shots, "outcome", chromedp.Text(css(`tr.failure-line[data-line="2"] pre.outcome`)))
	issues := get(t, ctx, shots, "issues", chromedp.Text(css(`tr.failure-line[data-line="3"] ul.issues`)))
	if !strings.Contains(outcome, `"resourceType": "OperationOutcome"`) || !strings.Contains(outcome, "id") {
		t.Errorf("OperationOutcome of line 2 = %s", outcome)
	}
	if !strings.Contains(issues, "birthDate") {
		t.Errorf("issues of line 3 = %q", issues)
	}
	shots.take(ctx, "failure-line")

	// Search Patients and open one with its history.
	run(t, ctx, shots, "search",
		chromedp.Navigate(base+"#/ds/"+dsID+"/resources"),
		chromedp.WaitReady(css(`#search-type option[value="Patient"]`)),
		chromedp.SetValue(css("#search-type"), "Patient"),
		chromedp.SetValue(css("#search-params"), "gender=female"),
		chromedp.Click(css("#search-btn")),
		chromedp.WaitVisible(css(`#search-table tbody tr[data-type="Patient"]`)))
	total := get(t, ctx, shots, "total", chromedp.Text(css("#search-total")))
	rows := get(t, ctx, shots, "count rows", chromedp.Evaluate[int](`document.querySelectorAll('#search-table tbody tr[data-type="Patient"]').length`))
	want := femalePatients(t, ts, dsID)
	if rows != min(want, 20) {
		t.Errorf("search shows %d female patients (%s), want %d", rows, total, min(want, 20))
	}
	shots.take(ctx, "search")
	run(t, ctx, shots, "read resource",
		chromedp.Click(css(`#search-table tbody tr[data-type="Patient"] a`)),
		chromedp.WaitVisible(css(`#history tr[data-version="1"]`)))
	get(t, ctx, shots, "resource shown", chromedp.Poll[bool](`document.querySelector('#resource-json').textContent.includes('"resourceType": "Patient"')`))
	shots.take(ctx, "resource")

	// Export the store from the form and see its output objects.
	run(t, ctx, shots, "export",
		chromedp.Navigate(base+"#/ds/"+dsID+"/export"),
		chromedp.WaitVisible(css("#export-form")),
		chromedp.SetValue(css("#export-output"), "s3://fhir-out/exports/"),
		chromedp.Click(css("#export-start")),
		chromedp.WaitVisible(css(`h1 .badge[data-status="COMPLETED"]`)),
		chromedp.WaitVisible(css(`#output-files tr[data-key="Patient/Patient-1.ndjson"]`)))
	shots.take(ctx, "export-completed")

	// A forged request from another origin (same site, so the session cookie goes along) is
	// refused, and creates nothing.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" enctype="text/plain" action="%s/console/api/healthlake">`+
			`<input name='{"DatastoreTypeVersion":"R4","DatastoreName":"forged","x":"' value='"}'></form>`+
			`<script>document.getElementById("f").submit()</script>`, ts.URL)
	}))
	defer evil.Close()
	run(t, ctx, shots, "forged request", chromedp.Navigate(evil.URL))
	get(t, ctx, shots, "forged answer", chromedp.Poll[bool](`location.pathname === "/console/api/healthlake" && document.body && document.body.innerText.length > 0`))
	forged := get(t, ctx, shots, "forged body", chromedp.Text(css("body")))
	if !strings.Contains(forged, "CrossOriginRequest") {
		t.Errorf("forged request answered %q, want a CrossOriginRequest refusal", forged)
	}
	shots.take(ctx, "csrf-refused")
	list, err := ts.ClientAs(config.DefaultAccessKeyID, config.DefaultSecretAccessKey, "us-east-1").ListFHIRDatastores(context.Background(), &healthlake.ListFHIRDatastoresInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list.DatastorePropertiesList {
		if d.DatastoreName != nil && *d.DatastoreName == "forged" {
			t.Error("the forged request created a data store")
		}
	}

	// Delete the data store (a second click confirms).
	row := fmt.Sprintf(`#store-rows tr[data-id="%s"]`, dsID)
	run(t, ctx, shots, "delete data store",
		chromedp.Navigate(base+"#/"),
		chromedp.WaitVisible(css(row+` button[data-action="delete"]`)),
		chromedp.Click(css(row+` button[data-action="delete"]`)),
		chromedp.WaitVisible(css(row+` button[data-armed]`)),
		chromedp.Click(css(row+` button[data-armed]`)),
		chromedp.WaitVisible(css(row+`:is([data-status="DELETING"], [data-status="DELETED"])`)))
	shots.take(ctx, "deleted")

	// Signing out ends the session: the console shows the sign-in page again.
	run(t, ctx, shots, "sign out",
		chromedp.Navigate(base), chromedp.WaitVisible(css("#sign-out")), chromedp.Click(css("#sign-out")),
		chromedp.WaitVisible(css("#login-form")),
		chromedp.Navigate(base+"#/ds/"+dsID+"/imports"), chromedp.WaitVisible(css("#login-form")))
}

// progressSample is what the job card showed at one moment.
type progressSample struct {
	Status string  `json:"status"`
	Value  float64 `json:"value"` // -1 while indeterminate
}

// watchJob samples the job card until its status is terminal and returns the distinct samples in
// order; it saves a screenshot of the first sample taken while the job runs.
func watchJob(t *testing.T, ctx context.Context, shots *shooter, name string) []progressSample {
	t.Helper()
	var out []progressSample
	deadline := time.Now().Add(2 * time.Minute)
	shotRunning := false
	for time.Now().Before(deadline) {
		s := get(t, ctx, shots, "sample progress", chromedp.Evaluate[progressSample](`(() => {
			const a = document.querySelector('article.job');
			const p = a.querySelector('progress');
			return {status: a.dataset.status, value: p.hasAttribute('value') ? p.value : -1};
		})()`))
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
		if s.Status == "IN_PROGRESS" && !shotRunning {
			shotRunning = true
			shots.take(ctx, name+"-running")
		}
		switch s.Status {
		case "COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED":
			if s.Value >= 0 || s.Status == "FAILED" {
				return out
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("job did not end: %v", out)
	return nil
}

// femalePatients counts the store's female patients with _summary=count, outside the browser.
func femalePatients(t *testing.T, ts *servertest.Server, ds string) int {
	b := newBrowser(t, ts.URL)
	b.mustSignIn(config.DefaultAccessKeyID, config.DefaultSecretAccessKey)
	_, body := b.do(http.MethodGet, "/console/api/fhir/"+ds+"/r4/Patient?gender=female&_summary=count", nil, nil)
	var n int
	if _, err := fmt.Sscanf(body[strings.Index(body, `"total":`)+len(`"total":`):], "%d", &n); err != nil {
		t.Fatalf("count: %s", body)
	}
	return n
}
