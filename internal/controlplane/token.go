package controlplane

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/fhirlake/fhirlake/internal/store"
)

// pageScope is what a pagination token is bound to: a token is only valid for the same list call
// (kind, tenant, data store) with the same filters.
type pageScope struct {
	Kind      string `json:"k"`
	Tenant    string `json:"t"`
	Datastore string `json:"d,omitempty"`
	Filter    string `json:"f"`
}

// tokenBody is the signed content of a NextToken: the scope and the keyset position.
type tokenBody struct {
	Scope pageScope `json:"s"`
	Time  int64     `json:"m"` // unix milliseconds of the last row returned
	ID    string    `json:"i"`
}

// defaultPageSize is the page size when MaxResults is absent.
const defaultPageSize = 500

func pageSize(max *int) int {
	if max == nil {
		return defaultPageSize
	}
	return *max
}

func (s *Service) encodeToken(scope pageScope, k store.PageKey) string {
	b, _ := json.Marshal(tokenBody{Scope: scope, Time: k.Time.UnixMilli(), ID: k.ID})
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload))
}

func (s *Service) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte(payload))
	return m.Sum(nil)[:16]
}

// decodeToken returns the keyset position of a token, nil for an absent or empty token, and a
// ValidationException for a token that is malformed, tampered with, or issued for another scope.
func (s *Service) decodeToken(tok string, scope pageScope) (*store.PageKey, error) {
	if tok == "" {
		return nil, nil
	}
	bad := validationErr("Invalid NextToken: the token is malformed or was issued for a different request")
	payload, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return nil, bad
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, bad
	}
	var body tokenBody
	if err := json.Unmarshal(raw, &body); err != nil || body.Scope != scope {
		return nil, bad
	}
	return &store.PageKey{Time: time.UnixMilli(body.Time).UTC(), ID: body.ID}, nil
}
