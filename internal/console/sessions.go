package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/fhirlake/fhirlake/internal/sigv4"
)

// cookieName is the session cookie. Its value is a random 256-bit token; the server keeps only
// its SHA-256, so a copy of the session table cannot be replayed as cookies.
const cookieName = "fhirlake_console"

// session is one signed-in browser.
type session struct {
	id      sigv4.Identity
	csrf    string // token every state-changing request must echo in the X-CSRF-Token header
	expires time.Time
}

// sessions is the table of signed-in browsers of one Console, in memory: a restart signs every
// browser out. It holds at most max sessions; signing in beyond that drops the session that
// expires first.
type sessions struct {
	mu  sync.Mutex
	m   map[[sha256.Size]byte]*session
	ttl time.Duration
	max int
	now func() time.Time
}

func newSessions(ttl time.Duration, max int, now func() time.Time) *sessions {
	return &sessions{m: map[[sha256.Size]byte]*session{}, ttl: ttl, max: max, now: now}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for id and returns its cookie value.
func (s *sessions) create(id sigv4.Identity) (string, *session) {
	token := randomToken()
	ss := &session{id: id, csrf: randomToken(), expires: s.now().Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		s.evictLocked()
	}
	s.m[sha256.Sum256([]byte(token))] = ss
	return token, ss
}

// evictLocked drops expired sessions, and the one closest to expiry if none had expired.
func (s *sessions) evictLocked() {
	now := s.now()
	var oldestKey [sha256.Size]byte
	var oldest *session
	for k, ss := range s.m {
		if now.After(ss.expires) {
			delete(s.m, k)
			continue
		}
		if oldest == nil || ss.expires.Before(oldest.expires) {
			oldestKey, oldest = k, ss
		}
	}
	if len(s.m) >= s.max && oldest != nil {
		delete(s.m, oldestKey)
	}
}

// lookup returns the live session of a request's cookie, or nil.
func (s *sessions) lookup(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	key := sha256.Sum256([]byte(c.Value))
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[key]
	if ss == nil {
		return nil
	}
	if s.now().After(ss.expires) {
		delete(s.m, key)
		return nil
	}
	return ss
}

// remove ends the session of a request's cookie.
func (s *sessions) remove(r *http.Request) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return
	}
	s.mu.Lock()
	delete(s.m, sha256.Sum256([]byte(c.Value)))
	s.mu.Unlock()
}

// checkCSRF reports whether r carries the session's CSRF token.
func (ss *session) checkCSRF(r *http.Request) bool {
	got := r.Header.Get("X-CSRF-Token")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) == 1
}

// cookie returns the session cookie to set (value "" and MaxAge -1 clear it).
func (c *Console) cookie(value string, expires time.Time) *http.Cookie {
	ck := &http.Cookie{Name: cookieName, Value: value, Path: "/console/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.opt.SecureCookies}
	if value == "" {
		ck.MaxAge = -1
	} else {
		ck.Expires = expires
	}
	return ck
}
