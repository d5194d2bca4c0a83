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
// whatever characters they hold, so that the qualified keys of one system (type) are exactly
// those that start with its prefix.
//
//	token with its system  <ds>:<param>:<len(system)>:<system><code>
//	token, any system      <ds>:<param>:*<code>
//	reference with a type  <ds>:<param>:<len(type)>:<type><id>
//	reference, any type    <ds>:<param>:*<id>
//
// resources.tok_t holds "<param>:<text>" for the normalised display text of each token entry. A
// resource has a parameter when one of its keys starts with the parameter's prefix, or (a token
// with a text only) one of its texts does; no key says so alone, which would cost another GIN
// entry per parameter of every resource for the rare :missing.
func keyPrefix(ds int64, param int32) string {
	return strconv.FormatInt(ds, 10) + ":" + strconv.FormatInt(int64(param), 10) + ":"
}

// qualifiedKey is the key of a value qualified by a system (token) or type (reference).
func qualifiedKey(ds int64, param int32, qual, value string) string {
	return keyPrefix(ds, param) + strconv.Itoa(len(qual)) + ":" + qual + value
}

// anyKey is the key of a value whatever its system or type.
func anyKey(ds int64, param int32, value string) string { return keyPrefix(ds, param) + "*" + value }

// textKey is the tok_t element of a display text.
func textKey(param int32, text string) string {
	return strconv.FormatInt(int64(param), 10) + ":" + text
}

// rowIndex is the token and reference index of one resource version, the values of its index
// columns. All slices are non-nil (an empty array, not NULL, on a current version).
type rowIndex struct {
	tok, tokT, ref []string
}

// indexColumns are the index columns of resources, in the order of rowIndex.values.
var indexColumns = []string{"tok", "tok_t", "ref"}

// values returns the column values (all NULL for x == nil, a deleted version).
func (x *rowIndex) values() []any {
	if x == nil {
		return make([]any, len(indexColumns))
	}
	return []any{x.tok, x.tokT, x.ref}
}

// put appends the column values to a row of r (all NULL for x == nil, a deleted version).
func (x *rowIndex) put(r *rowSet) {
	if x == nil {
		r.texts(nil).texts(nil).texts(nil)
		return
	}
	r.texts(x.tok).texts(x.tokT).texts(x.ref)
}

// indexRows collects the index rows of a transaction's writes for the row kinds, one row set per
// table, and builds each resource's token and reference columns.
type indexRows struct {
	str, dt, num, uri *rowSet
}

// newIndexRows returns empty row sets with room for about entries rows in all.
func newIndexRows(entries int) *indexRows {
	x := &indexRows{
		str: newRowSet("idx_string", "ds", "param", "value", "exact", "rpk"),
		dt:  newRowSet("idx_date", "ds", "param", "lo", "hi", "rpk"),
		num: newRowSet("idx_number", "ds", "param", "lo", "hi", "system", "code", "rpk"),
		uri: newRowSet("idx_uri", "ds", "param", "value", "rpk"),
	}
	// On Synthea data about a fifth of the entries are of these kinds, most of them dates.
	x.dt.grow(entries / 8 * 50)
	x.num.grow(entries / 16 * 70)
	return x
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
	ri := &rowIndex{tok: make([]string, 0, 2*nt), tokT: make([]string, 0, nt), ref: make([]string, 0, 2*nr)}
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
			if e.Code != "" || e.System != "" {
				key(&ri.tok, prefix+strconv.Itoa(len(e.System))+":"+e.System+e.Code)
			}
			if e.Code != "" {
				key(&ri.tok, prefix+"*"+e.Code)
			}
			if e.Value != "" {
				key(&ri.tokT, textKey(p, e.Value))
			}
		case store.IndexReference:
			if e.RefType != "" {
				key(&ri.ref, prefix+strconv.Itoa(len(e.RefType))+":"+e.RefType+e.RefID)
			}
			key(&ri.ref, prefix+"*"+e.RefID)
		case store.IndexString:
			x.str.row().i8(ds).i4(p).text(e.Value).text(e.Exact).i8(rpk)
		case store.IndexDate:
			x.dt.row().i8(ds).i4(p).i8(e.Low).i8(e.High).i8(rpk)
		case store.IndexNumber:
			x.num.row().i8(ds).i4(p).f8(e.NumLow).f8(e.NumHigh).text("").text("").i8(rpk)
		case store.IndexQuantity:
			x.num.row().i8(ds).i4(p).f8(e.NumLow).f8(e.NumHigh).text(e.System).text(e.Code).i8(rpk)
		case store.IndexURI:
			x.uri.row().i8(ds).i4(p).text(e.Value).i8(rpk)
		default:
			return nil, fmt.Errorf("index %s/%s: unknown index kind %d", typ, e.Param, e.Kind)
		}
	}
	return ri, nil
}
