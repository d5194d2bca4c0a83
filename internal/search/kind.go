package search

import "github.com/fhirlake/fhirlake/internal/store"

// kind is a search parameter type: the store's index kind, so that entries need no conversion.
type kind = store.IndexKind

const (
	kindString    = store.IndexString
	kindToken     = store.IndexToken
	kindReference = store.IndexReference
	kindDate      = store.IndexDate
	kindNumber    = store.IndexNumber
	kindQuantity  = store.IndexQuantity
	kindURI       = store.IndexURI
)
