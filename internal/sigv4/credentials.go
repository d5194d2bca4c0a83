package sigv4

// Credential is what a lookup returns for an access key id.
type Credential struct {
	// SecretAccessKey is the secret the client signs with.
	SecretAccessKey string
	// AccountID is the 12-digit account the key belongs to; it becomes
	// Identity.AccountID.
	AccountID string
}

// Credentials looks up secrets by access key id.
type Credentials interface {
	// Lookup returns the credential for accessKeyID and true, or false when
	// the key is unknown. It is called once per request, after the
	// Authorization header and the request time have been checked, and may be
	// called from many goroutines at once.
	Lookup(accessKeyID string) (Credential, bool)
}

// StaticCredentials is a fixed map from access key id to Credential. It is
// safe for concurrent use as long as it is not modified.
type StaticCredentials map[string]Credential

// Lookup implements Credentials.
func (s StaticCredentials) Lookup(accessKeyID string) (Credential, bool) {
	c, ok := s[accessKeyID]
	return c, ok
}
