// Package sqlcond writes the SQL conditions that the FHIR R4 search prefixes (eq, ne, gt, lt,
// ge, le, sa, eb, ap) make of date and number predicates, for the SQL backends (store/sqlite and
// store/postgres), so that both apply the same rules. A backend passes a function that appends
// SQL text with its arguments ("?" marks each argument) and the text of its placeholder, which
// may carry a cast ("?::bigint"). It holds no state.
package sqlcond

import (
	"fmt"
	"strings"

	"github.com/fhirlake/fhirlake/internal/store"
)

// Write appends SQL text and the arguments of its placeholders.
type Write func(sql string, args ...any)

// Date writes the comparison of a row's inclusive range [lo, hi] (two SQL expressions) with the
// predicate's range [Low, High] by its prefix; arg is the placeholder of one bound.
func Date(w Write, p store.SearchPredicate, lo, hi, arg string) error {
	eq := fmt.Sprintf("(%s >= %s AND %s <= %s)", lo, arg, hi, arg)
	// The bounds "lo <= High" (eq, le) and "hi >= Low" (ge) follow from lo <= hi; they are
	// written out so that indexes on lo and on hi can be used.
	switch p.Op {
	case store.OpEq:
		w(lo+" <= "+arg+" AND "+eq, p.High, p.Low, p.High)
	case store.OpNe:
		w("NOT "+eq, p.Low, p.High)
	case store.OpGt:
		w(hi+" > "+arg, p.High)
	case store.OpLt:
		w(lo+" < "+arg, p.Low)
	case store.OpGe:
		w(hi+" >= "+arg+" AND ("+hi+" > "+arg+" OR "+eq+")", p.Low, p.High, p.Low, p.High)
	case store.OpLe:
		w(lo+" <= "+arg+" AND ("+lo+" < "+arg+" OR "+eq+")", p.High, p.Low, p.Low, p.High)
	case store.OpSa:
		w(lo+" > "+arg, p.High)
	case store.OpEb:
		w(hi+" < "+arg, p.Low)
	case store.OpAp:
		w(lo+" <= "+arg+" AND "+hi+" >= "+arg, p.High, p.Low)
	default:
		return fmt.Errorf("date comparison %d: %w", p.Op, store.ErrBadQuery)
	}
	return nil
}

// Number writes the comparison of a row's range [lo, hi] with the predicate's value Num and its
// precision range [NumLow, NumHigh); arg is the placeholder of one number.
func Number(w Write, p store.SearchPredicate, lo, hi, arg string) error {
	switch p.Op {
	case store.OpEq:
		w("("+lo+" >= "+arg+" AND "+hi+" < "+arg+")", p.NumLow, p.NumHigh)
	case store.OpNe:
		w("NOT ("+lo+" >= "+arg+" AND "+hi+" < "+arg+")", p.NumLow, p.NumHigh)
	case store.OpGt:
		w(hi+" > "+arg, p.Num)
	case store.OpLt:
		w(lo+" < "+arg, p.Num)
	case store.OpGe:
		w(hi+" >= "+arg, p.Num)
	case store.OpLe:
		w(lo+" <= "+arg, p.Num)
	case store.OpSa:
		w(lo+" > "+arg, p.Num)
	case store.OpEb:
		w(hi+" < "+arg, p.Num)
	case store.OpAp:
		w(lo+" <= "+arg+" AND "+hi+" >= "+arg, p.NumHigh, p.NumLow)
	default:
		return fmt.Errorf("number comparison %d: %w", p.Op, store.ErrBadQuery)
	}
	return nil
}

// likeEscaper escapes the wildcards of LIKE, with backslash as the escape character.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// LikeEscape escapes s for a LIKE pattern written with ESCAPE '\'.
func LikeEscape(s string) string { return likeEscaper.Replace(s) }
