package search

// kind is a search parameter type; the values match store.IndexKind.
type kind uint8

const (
	kindString kind = iota + 1
	kindToken
	kindReference
	kindDate
	kindNumber
	kindQuantity
	kindURI
)
