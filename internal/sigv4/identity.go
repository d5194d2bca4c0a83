package sigv4

import "context"

// Identity is the authenticated caller. The tenant is (AccountID, Region);
// Region is the region of the credential scope the client signed with.
type Identity struct {
	AccessKeyID string
	AccountID   string
	Region      string
}

type identityKey struct{}

// WithIdentity returns a copy of ctx carrying id. Middleware uses it; tests
// of other packages use it to fake an authenticated request.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the Identity stored in ctx by WithIdentity, and
// whether there was one.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}
