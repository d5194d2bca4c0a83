// Package console is fhirlake's web console, served at /console/ on the service port: sign in
// with an access key and its secret, then manage data stores, start import and export jobs and
// watch their progress live, read a job's manifest and its SUCCESS/FAILURE lines, browse and
// upload to object storage, and search and read FHIR resources with their history.
//
// The console adds no domain logic of its own. Its browser code speaks the service's own
// protocols through two in-process pass-throughs that put the session's identity where SigV4
// would have: POST /console/api/healthlake carries AWS JSON 1.0 requests (X-Amz-Target
// HealthLake.<Operation>) to the control plane handler, and /console/api/fhir/{id}/r4/... carries
// FHIR REST requests to the data plane handler, so every request is validated, scoped to the
// tenant and answered exactly as for an SDK client. Object storage is reached through Storage,
// the signed-in account's view of it, which holds only the buckets that account owns.
//
// Sessions: a sign-in checks the key and secret against the service's credentials and creates a
// server-side session (in memory; a restart signs everyone out) whose random token travels in an
// HttpOnly, SameSite=Strict cookie scoped to /console/. The tenant is the key's account and the
// region chosen at sign-in. Nothing but the sign-in page and its script and style sheet is served
// without a session. Cross-site request forgery is refused twice: every unsafe request must come
// from the console's own origin (net/http's CrossOriginProtection, by Sec-Fetch-Site or Origin)
// and must echo the session's CSRF token in the X-CSRF-Token header. Pages carry a strict
// Content-Security-Policy (scripts and styles from the console only, no inline code), and the
// browser code inserts data as text, never as markup.
//
// Routes (all under /console/):
//
//	GET  /console/                 the console (a single page; sign-in page without a session)
//	GET  /console/login            sign-in page; POST: sign in (form: access_key_id, secret_access_key, region)
//	POST /console/logout           sign out
//	GET  /console/assets/{name}    embedded script, style sheet and icon
//	GET  /console/api/session      the signed-in identity and the CSRF token
//	POST /console/api/healthlake   control plane operation (AWS JSON 1.0)
//	ANY  /console/api/fhir/{id}/r4/...  FHIR REST interaction on a data store
//	GET  /console/api/s3/buckets   the account's buckets; POST creates one ({"name": ...})
//	GET  /console/api/s3/objects   a page of a listing (bucket, prefix, delimiter, after, max)
//	GET  /console/api/s3/object    an object's bytes (bucket, key, offset; at most 4 MiB)
//	PUT  /console/api/s3/object    upload an object (bucket, key; the body is the object)
//	GET  /console/api/s3/lines     lines of an object as JSON (bucket, key, offset, max)
//	GET  /console/api/s3/usage     objects and bytes an import of an s3:// URI would read
//
// The assets are plain HTML, CSS and JavaScript embedded in the binary: no build step, no CDN.
package console

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/fhirlake/fhirlake/internal/sigv4"
)

//go:embed assets
var assets embed.FS

// Options configure a Console.
type Options struct {
	// Credentials checks sign-ins (the same credentials SigV4 requests are checked against).
	Credentials sigv4.Credentials
	// ControlPlane serves AWS JSON 1.0 HealthLake operations for the identity in the request's
	// context, as sigv4.WithIdentity puts it there.
	ControlPlane http.Handler
	// FHIR serves /datastore/{id}/r4/... for the identity in the request's context.
	FHIR http.Handler
	// Objects returns an account's view of the object storage the S3 browser shows and uploads
	// to; nil turns the browser off (the import form then takes typed s3:// URIs only).
	Objects func(account string) Storage
	// DefaultRegion is the region the sign-in form proposes. Default "us-east-1".
	DefaultRegion string
	// SecureCookies marks the session cookie Secure, for a service reached over https.
	// Default false.
	SecureCookies bool
	// SessionTTL is how long a session lasts after sign-in. Default 12h.
	SessionTTL time.Duration
	// MaxSessions caps the sessions kept at once; signing in beyond it ends the oldest. Default 10000.
	MaxSessions int
	// MaxUpload is the largest object the console uploads, in bytes. Default 5 GiB (S3's limit
	// for one PUT).
	MaxUpload int64
	// Logger receives internal errors, which are never sent to the browser.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Console is the web console's HTTP handler.
type Console struct {
	opt      Options
	sessions *sessions
	mux      *http.ServeMux
	handler  http.Handler
}

// New returns a Console.
func New(opt Options) *Console {
	if opt.DefaultRegion == "" {
		opt.DefaultRegion = "us-east-1"
	}
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = 12 * time.Hour
	}
	if opt.MaxSessions <= 0 {
		opt.MaxSessions = 10000
	}
	if opt.MaxUpload <= 0 {
		opt.MaxUpload = 5 << 30
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	c := &Console{opt: opt, sessions: newSessions(opt.SessionTTL, opt.MaxSessions, opt.Now), mux: http.NewServeMux()}
	m := c.mux
	m.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	})
	m.HandleFunc("GET /console/{$}", c.page)
	m.HandleFunc("GET /console/login", c.loginPage)
	m.HandleFunc("POST /console/login", c.login)
	m.HandleFunc("POST /console/logout", c.api(c.logout))
	m.HandleFunc("GET /console/assets/{name}", c.asset)
	m.HandleFunc("GET /console/api/session", c.api(c.session))
	m.HandleFunc("POST /console/api/healthlake", c.api(c.healthlake))
	m.HandleFunc("/console/api/fhir/", c.api(c.fhir))
	m.HandleFunc("GET /console/api/s3/buckets", c.api(c.buckets))
	m.HandleFunc("POST /console/api/s3/buckets", c.api(c.createBucket))
	m.HandleFunc("GET /console/api/s3/objects", c.api(c.objects))
	m.HandleFunc("GET /console/api/s3/object", c.api(c.getObject))
	m.HandleFunc("PUT /console/api/s3/object", c.api(c.putObject))
	m.HandleFunc("GET /console/api/s3/lines", c.api(c.lines))
	m.HandleFunc("GET /console/api/s3/usage", c.api(c.usage))
	m.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", "no such console page or API")
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "CrossOriginRequest", "cross-origin requests to the console are refused")
	}))
	c.handler = cop.Handler(m)
	return c
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	c.handler.ServeHTTP(w, r)
}

// Operation names a console request for metrics and logs: "page", "login", "logout", "asset",
// "session", "healthlake", "fhir", "s3.buckets", "s3.objects", "s3.object", "s3.lines",
// "s3.usage" or "unknown" (a small fixed set).
func Operation(r *http.Request) string {
	p := strings.TrimPrefix(r.URL.Path, "/console")
	switch {
	case p == "" || p == "/":
		return "page"
	case p == "/login", p == "/logout":
		return p[1:]
	case strings.HasPrefix(p, "/assets/"):
		return "asset"
	case p == "/api/session", p == "/api/healthlake":
		return p[len("/api/"):]
	case strings.HasPrefix(p, "/api/fhir/"):
		return "fhir"
	case p == "/api/s3/buckets", p == "/api/s3/objects", p == "/api/s3/object", p == "/api/s3/lines", p == "/api/s3/usage":
		return "s3." + p[len("/api/s3/"):]
	}
	return "unknown"
}

// publicAssets may be fetched without a session: the sign-in page needs them.
var publicAssets = map[string]bool{"login.js": true, "style.css": true, "icon.svg": true}

var assetTypes = map[string]string{
	".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml", ".html": "text/html; charset=utf-8",
}

func (c *Console) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !publicAssets[name] && c.sessions.lookup(r) == nil {
		writeError(w, http.StatusUnauthorized, "NotSignedIn", "sign in at /console/login first")
		return
	}
	c.serveFile(w, name)
}

func (c *Console) serveFile(w http.ResponseWriter, name string) {
	b, err := fs.ReadFile(assets, "assets/"+name)
	if err != nil || strings.HasSuffix(name, ".html") {
		writeError(w, http.StatusNotFound, "NotFound", "no such asset")
		return
	}
	if t, ok := assetTypes[path.Ext(name)]; ok {
		w.Header().Set("Content-Type", t)
	}
	w.Write(b)
}

func (c *Console) page(w http.ResponseWriter, r *http.Request) {
	if c.sessions.lookup(r) == nil {
		http.Redirect(w, r, "/console/login", http.StatusSeeOther)
		return
	}
	c.html(w, "index.html")
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.html(w, "login.html")
}

func (c *Console) html(w http.ResponseWriter, name string) {
	b, err := fs.ReadFile(assets, "assets/"+name)
	if err != nil {
		c.opt.Logger.Error("console asset missing", "name", name, "err", err)
		writeError(w, http.StatusInternalServerError, "InternalError", "an internal error occurred")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)

// login checks a sign-in form and starts a session. Failures go back to the sign-in page with a
// reason in the query string (never which of key or secret was wrong).
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Redirect(w, r, "/console/login?failed=form", http.StatusSeeOther)
		return
	}
	key, secret := strings.TrimSpace(r.PostForm.Get("access_key_id")), r.PostForm.Get("secret_access_key")
	region := strings.TrimSpace(r.PostForm.Get("region"))
	if region == "" {
		region = c.opt.DefaultRegion
	}
	if !regionPattern.MatchString(region) {
		http.Redirect(w, r, "/console/login?failed=region", http.StatusSeeOther)
		return
	}
	cred, ok := c.opt.Credentials.Lookup(key)
	// Compare even for an unknown key so that both failures take the same time.
	match := subtle.ConstantTimeCompare([]byte(secret), []byte(cred.SecretAccessKey)) == 1
	if !ok || !match || secret == "" {
		http.Redirect(w, r, "/console/login?failed=credentials", http.StatusSeeOther)
		return
	}
	token, ss := c.sessions.create(sigv4.Identity{AccessKeyID: key, AccountID: cred.AccountID, Region: region})
	http.SetCookie(w, c.cookie(token, ss.expires))
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

// api guards an API route: it needs a live session, and a state-changing method needs the
// session's CSRF token.
func (c *Console) api(fn func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := c.sessions.lookup(r)
		if ss == nil {
			writeError(w, http.StatusUnauthorized, "NotSignedIn", "sign in at /console/login first")
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if !ss.checkCSRF(r) {
				writeError(w, http.StatusForbidden, "InvalidCSRFToken", "the request lacks the session's X-CSRF-Token header")
				return
			}
		}
		fn(w, r, ss)
	}
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	c.sessions.remove(r)
	http.SetCookie(w, c.cookie("", time.Time{}))
	w.WriteHeader(http.StatusNoContent)
}

// session tells the browser code who is signed in and the CSRF token to send.
func (c *Console) session(w http.ResponseWriter, r *http.Request, ss *session) {
	writeJSON(w, http.StatusOK, map[string]any{
		"accessKeyId": ss.id.AccessKeyID, "accountId": ss.id.AccountID, "region": ss.id.Region,
		"csrfToken": ss.csrf, "expires": ss.expires.Unix(), "s3Browser": c.opt.Objects != nil,
	})
}

// inProcess returns a copy of r for an in-process handler: the session's identity in its
// context, the given path, and no cookie or CSRF header.
func inProcess(r *http.Request, ss *session, path string) *http.Request {
	r2 := r.Clone(sigv4.WithIdentity(r.Context(), ss.id))
	r2.URL.Path, r2.URL.RawPath = path, ""
	r2.RequestURI = ""
	r2.Header.Del("Cookie")
	r2.Header.Del("X-CSRF-Token")
	return r2
}

// healthlake passes an AWS JSON 1.0 request to the control plane as the session's identity.
func (c *Console) healthlake(w http.ResponseWriter, r *http.Request, ss *session) {
	c.opt.ControlPlane.ServeHTTP(w, inProcess(r, ss, "/"))
}

// fhir passes /console/api/fhir/{id}/r4/... to the data plane as /datastore/{id}/r4/....
func (c *Console) fhir(w http.ResponseWriter, r *http.Request, ss *session) {
	rest := strings.TrimPrefix(r.URL.Path, "/console/api/fhir/")
	c.opt.FHIR.ServeHTTP(w, inProcess(r, ss, "/datastore/"+rest))
}

// apiError is the body of every console API error.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]apiError{"error": {Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"InternalError","message":"an internal error occurred"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// errStop ends a listing early.
var errStop = errors.New("stop")
