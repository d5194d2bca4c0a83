package sqlcond

import (
	"errors"
	"strings"
	"testing"

	"github.com/fhirlake/fhirlake/internal/store"
)

// TestPlaceholders: every prefix writes as many arguments as placeholders, with a cast kept on
// each; an unknown prefix is a bad query. (The search semantics are the storetest suite's, on
// both backends.)
func TestPlaceholders(t *testing.T) {
	p := store.SearchPredicate{Low: 1, High: 2, Num: 1.5, NumLow: 1.45, NumHigh: 1.55}
	for _, arg := range []string{"?", "?::bigint"} {
		for _, op := range []store.SearchOp{store.OpEq, store.OpNe, store.OpGt, store.OpLt, store.OpGe, store.OpLe, store.OpSa, store.OpEb, store.OpAp} {
			p.Op = op
			for name, f := range map[string]func(Write, store.SearchPredicate, string, string, string) error{"Date": Date, "Number": Number} {
				var sql strings.Builder
				var args []any
				w := func(s string, a ...any) { sql.WriteString(s); args = append(args, a...) }
				if err := f(w, p, "x.lo", "x.hi", arg); err != nil {
					t.Fatalf("%s op %d: %v", name, op, err)
				}
				if n := strings.Count(sql.String(), "?"); n != len(args) || n == 0 || strings.Count(sql.String(), arg) != n {
					t.Errorf("%s op %d with %s: %q has %d placeholders for %d arguments", name, op, arg, sql.String(), n, len(args))
				}
			}
		}
	}
	p.Op = store.OpText
	if err := Date(func(string, ...any) {}, p, "lo", "hi", "?"); !errors.Is(err, store.ErrBadQuery) {
		t.Errorf("unknown prefix: %v", err)
	}
}

func TestLikeEscape(t *testing.T) {
	if got := LikeEscape(`50%_a\b`); got != `50\%\_a\\b` {
		t.Errorf("LikeEscape = %q", got)
	}
}
