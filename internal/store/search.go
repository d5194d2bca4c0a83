package store

// SearchOp is how a predicate compares its value with indexed values.
type SearchOp uint8

// Search operators. The comparison prefixes follow FHIR R4 search rules for ranges: a date or a
// number with implicit precision is the range [Low, High] on both sides.
const (
	OpEq       SearchOp = iota // range of the value contains the indexed range; token/uri/ref equality
	OpNe                       // not OpEq
	OpGt                       // indexed range extends above the value
	OpLt                       // indexed range extends below the value
	OpGe                       // OpGt or OpEq
	OpLe                       // OpLt or OpEq
	OpSa                       // indexed range starts after the value
	OpEb                       // indexed range ends before the value
	OpPrefix                   // string: case- and accent-insensitive starts-with (the default)
	OpExact                    // string: exact, case-sensitive
	OpContains                 // string: case- and accent-insensitive substring
	OpText                     // token: starts-with on the normalised display/text; string: every word of Value starts a word of the normalised value
	OpBelow                    // uri: starts-with
	OpMissing                  // any kind: Missing says whether the parameter must be absent
	OpAp                       // date, number, quantity: the indexed range overlaps [Low, High] / [NumLow, NumHigh]
	OpAbove                    // uri: the indexed value is a prefix of Value
)

// SearchPredicate is one test on one parameter of a resource.
type SearchPredicate struct {
	// Param is the parameter code; "_id" (Kind IndexToken, Code) and "_lastUpdated"
	// (Kind IndexDate) test the resource row itself.
	Param string
	Kind  IndexKind
	Op    SearchOp
	// Not negates the whole predicate (the token :not modifier): resources that have no value
	// matching it.
	Not bool
	// Missing is the operand of OpMissing.
	Missing bool
	// System is compared when AnySystem is false (token, quantity); "" then means "no system".
	AnySystem bool
	System    string
	Code      string // token code, quantity unit code ("" = any unit)
	Value     string // normalised string, uri
	// RefType and RefID are a reference target; RefType "" matches any type with RefID.
	RefType string
	RefID   string
	// Low/High: date range of the value (unix ms, inclusive). NumLow/NumHigh: number range
	// (implicit precision), Num the value itself.
	Low, High       int64
	NumLow, NumHigh float64
	Num             float64
	// Chain, when set, replaces the reference value: the predicate matches resources whose
	// reference parameter Param points at a resource of Chain.Type that matches all of
	// Chain.Where (which may chain further).
	Chain *SearchChain
	// Has, when set, replaces the reference value (reverse chaining, _has): the predicate
	// matches resources that a resource of Has.Type references through its parameter Has.Param,
	// where that resource matches all of Has.Where (which may hold Has and Chain predicates
	// again). Param and Kind are Has.Param and IndexReference.
	Has *SearchHas
}

// SearchChain is the target side of a chained reference parameter.
type SearchChain struct {
	Type  string
	Where []SearchPredicate
}

// SearchHas is the source side of a reverse chain: resources of Type whose reference parameter
// Param points at the searched resource, and that match all of Where.
type SearchHas struct {
	Type  string
	Param string
	Where []SearchPredicate
}

// SearchSort orders the result by a parameter ("_id", "_lastUpdated" or a string, date, number,
// quantity or token parameter), ties broken by insertion order.
type SearchSort struct {
	Param string
	Kind  IndexKind
	Desc  bool
}

// SearchInclude names a reference parameter to follow: _include follows Param of Type from the
// matches to targets (of TargetType when not ""); _revinclude finds resources of Type whose Param
// points at a match. With Iterate (the :iterate modifier) it is also followed from the resources
// the includes added, again and again until nothing new comes (within the page's cap on
// included resources).
type SearchInclude struct {
	Type       string
	Param      string
	TargetType string
	Iterate    bool
}

// SearchQuery is one page of a search over the resources of Type in a data store. Where is a
// conjunction of disjunctions: every element of Where must have at least one predicate that holds.
type SearchQuery struct {
	DatastoreID string
	Type        string
	Where       [][]SearchPredicate
	Sort        []SearchSort
	// Count is the page size (> 0); CountOnly returns only Total.
	Count     int
	CountOnly bool
	// Cursor continues after the last match of a previous page (SearchResult.Next); nil starts at
	// the beginning.
	Cursor     []byte
	Include    []SearchInclude
	RevInclude []SearchInclude
}

// SearchResult is one page of matches and the resources they include.
type SearchResult struct {
	Matches  []Resource
	Included []Resource
	// Next is the opaque cursor of the following page, nil on the last page.
	Next []byte
	// Total is the number of matches, set only for CountOnly.
	Total int64
}
