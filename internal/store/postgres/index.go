package postgres

import (
	"fmt"
	"strconv"

	"github.com/fhirlake/fhirlake/internal/store"
)

// indexTables lists the tables of the index kinds kept as one row per entry (tokens and references
// live on the resource row, see rowIndex).
var indexTables = [...]string{"idx_string", "idx_date", "idx_number", "idx_uri"}

// tableOf returns the index table of a row kind (numbers and quantities share idx_number).
func tableOf(k store.IndexKind) (string, bool) {
	switch k {
	case store.IndexString:
		return "idx_string", true
	case store.IndexDate:
		return "idx_date", true
	case store.IndexNumber, store.IndexQuantity:
		return "idx_number", true
	case store.IndexURI:
		return "idx_uri", true
	}
	return "", false
}

// The search keys of token and reference entries, the elements of resources.tok and
// resources.ref under their GIN indexes. Each starts with the data store and parameter keys, so a
// key never matches in another store; a length prefix keeps system and code (type and id) apart
// whatever characters they hold.
//
//	token with its system  <ds>:<param>:<len(system)>:<system><code>
//	token, any system      <ds>:<param>:*<code>
//	reference with a type  <ds>:<param>:<len(type)>:<type><id>
//	reference, any type    <ds>:<param>:*<id>
func keyPrefix(ds int64, param int32) string {
	return strconv.FormatInt(ds, 10) + ":" + strconv.FormatInt(int64(param), 10) + ":"
}

// qualifiedKey is the key of a value qualified by a system (token) or type (reference).
func qualifiedKey(ds int64, param int32, qual, value string) string {
	return keyPrefix(ds, param) + strconv.Itoa(len(qual)) + ":" + qual + value
}

// anyKey is the key of a value whatever its system or type.
func anyKey(ds int64, param int32, value string) string { return keyPrefix(ds, param) + "*" + value }

// rowIndex is the token and reference index of one resource version, the values of its index
// columns. All slices are non-nil (an empty array, not NULL, on a current version).
type rowIndex struct {
	tok              []string
	tokP             []int32
	tokS, tokC, tokT []string
	ref              []string
	refP             []int32
	refT, refI       []string
}

// columns are the index columns of resources, in the order of rowIndex.values.
var indexColumns = []string{"tok", "tok_p", "tok_s", "tok_c", "tok_t", "ref", "ref_p", "ref_t", "ref_i"}

// values returns the column values (all NULL for x == nil, a deleted version).
func (x *rowIndex) values() []any {
	if x == nil {
		return make([]any, len(indexColumns))
	}
	return []any{x.tok, x.tokP, x.tokS, x.tokC, x.tokT, x.ref, x.refP, x.refT, x.refI}
}

// indexRows collects the index rows of a transaction's writes for the row kinds, one row set per
// table, and builds each resource's token and reference columns.
type indexRows struct {
	str, dt, num, uri *rowSet
}

func newIndexRows() *indexRows {
	return &indexRows{
		str: newRowSet("idx_string", "ds", "param", "value", "exact", "rpk"),
		dt:  newRowSet("idx_date", "ds", "param", "lo", "hi", "rpk"),
		num: newRowSet("idx_number", "ds", "param", "lo", "hi", "system", "code", "rpk"),
		uri: newRowSet("idx_uri", "ds", "param", "value", "rpk"),
	}
}

func (x *indexRows) sets() []*rowSet { return []*rowSet{x.str, x.dt, x.num, x.uri} }

// add adds the entries of one resource version: row kinds to the row sets, tokens and references
// to the returned columns. An entry that occurs twice is written once. A resource has a dozen
// entries or so, so duplicates are found by comparison rather than through a map.
func (x *indexRows) add(ds, rpk int64, typ string, entries []store.IndexEntry, params map[string]int32) (*rowIndex, error) {
	nt, nr := 0, 0
	for i := range entries {
		switch entries[i].Kind {
		case store.IndexToken:
			nt++
		case store.IndexReference:
			nr++
		}
	}
	ri := &rowIndex{tok: make([]string, 0, 2*nt), tokP: make([]int32, 0, nt), tokS: make([]string, 0, nt),
		tokC: make([]string, 0, nt), tokT: make([]string, 0, nt),
		ref: make([]string, 0, 2*nr), refP: make([]int32, 0, nr), refT: make([]string, 0, nr), refI: make([]string, 0, nr)}
	key := func(dst *[]string, k string) {
		for _, have := range *dst {
			if have == k {
				return
			}
		}
		*dst = append(*dst, k)
	}
	lastCode, lastParam, prefix := "", int32(0), ""
	for i := range entries {
		e := &entries[i]
		dup := false
		for j := 0; j < i && !dup; j++ {
			dup = entries[j] == *e
		}
		if dup {
			continue
		}
		if e.Param != lastCode || lastParam == 0 {
			p, ok := params[paramKey(typ, e.Param)]
			if !ok || p == 0 {
				return nil, fmt.Errorf("index %s/%s: no parameter key", typ, e.Param)
			}
			lastCode, lastParam, prefix = e.Param, p, ""
		}
		p := lastParam
		if prefix == "" && (e.Kind == store.IndexToken || e.Kind == store.IndexReference) {
			prefix = keyPrefix(ds, p)
		}
		switch e.Kind {
		case store.IndexToken:
			ri.tokP, ri.tokS, ri.tokC, ri.tokT = append(ri.tokP, p), append(ri.tokS, e.System), append(ri.tokC, e.Code), append(ri.tokT, e.Value)
			if e.Code != "" {
				key(&ri.tok, prefix+strconv.Itoa(len(e.System))+":"+e.System+e.Code)
				key(&ri.tok, prefix+"*"+e.Code)
			}
		case store.IndexReference:
			ri.refP, ri.refT, ri.refI = append(ri.refP, p), append(ri.refT, e.RefType), append(ri.refI, e.RefID)
			if e.RefType != "" {
				key(&ri.ref, prefix+strconv.Itoa(len(e.RefType))+":"+e.RefType+e.RefID)
			}
			key(&ri.ref, prefix+"*"+e.RefID)
		case store.IndexString:
			x.str.add(ds, p, e.Value, e.Exact, rpk)
		case store.IndexDate:
			x.dt.add(ds, p, e.Low, e.High, rpk)
		case store.IndexNumber:
			x.num.add(ds, p, e.NumLow, e.NumHigh, "", "", rpk)
		case store.IndexQuantity:
			x.num.add(ds, p, e.NumLow, e.NumHigh, e.System, e.Code, rpk)
		case store.IndexURI:
			x.uri.add(ds, p, e.Value, rpk)
		default:
			return nil, fmt.Errorf("index %s/%s: unknown index kind %d", typ, e.Param, e.Kind)
		}
	}
	return ri, nil
}
