package postgres

import (
	"strconv"
	"strings"
)

// sqlBuilder accumulates SQL text and its arguments. w writes text in which each ? stands for
// the next argument; sql returns the text with PostgreSQL's $n placeholders. Arguments added with
// arg (before any text) take the first numbers, for fixed $n references in constant SQL.
type sqlBuilder struct {
	b    strings.Builder
	args []any
}

// w appends s, whose ? marks are bound to args in order.
func (q *sqlBuilder) w(s string, args ...any) {
	for {
		i := strings.IndexByte(s, '?')
		if i < 0 {
			break
		}
		q.b.WriteString(s[:i])
		if len(args) == 0 {
			panic("sqlBuilder: more ? than arguments in " + s)
		}
		q.args = append(q.args, args[0])
		args = args[1:]
		q.b.WriteString("$" + strconv.Itoa(len(q.args)))
		s = s[i+1:]
	}
	if len(args) != 0 {
		panic("sqlBuilder: more arguments than ? in " + s)
	}
	q.b.WriteString(s)
}

// arg appends an argument without text and returns its placeholder.
func (q *sqlBuilder) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

func (q *sqlBuilder) sql() string { return q.b.String() }
