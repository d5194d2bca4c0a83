package awsmodel

// kind is the JSON-level kind of a shape.
type kind uint8

const (
	kindStructure kind = iota + 1
	kindUnion
	kindList
	kindString
	kindBoolean
	kindInteger
	kindFloat
	kindTimestamp
	kindDocument
)

// shape is one generated table entry. The tables are immutable; a Validator
// compiles them into nodes.
type shape struct {
	kind kind
	// bits is the width of an integer shape: 8, 16, 32 or 64.
	bits int
	// members of a structure or union, in model order.
	members []member
	// item is the key of a list's member shape.
	item string
	// length bounds a string (in characters) or a list (in items).
	length *span
	// pattern is the model's pattern as written, quoted in messages.
	pattern string
	// regexp is the RE2 form of pattern when it had to be rewritten; empty
	// when pattern compiles as is.
	regexp string
	// patternLength holds the character bounds folded out of a rewritten
	// pattern; the pattern fails when the value is outside them.
	patternLength *span
	// enum lists the allowed values in model order.
	enum []string
	// minValue and maxValue are the range bounds as the model writes them;
	// empty when unbounded.
	minValue, maxValue string
}

// member is one member of a structure or union.
type member struct {
	name   string // JSON key, exactly as in the model
	path   string // lowerCamelCase segment used in messages
	target string // key of the target shape in shapes
	// required members must be present and not null.
	required bool
	// idempotencyToken members are filled by SDKs when callers omit them;
	// they are validated like any other optional member.
	idempotencyToken bool
}

// span is an inclusive length range; max < 0 means unbounded.
type span struct {
	min, max int64
}

// Operations returns the names of the model's operations, sorted.
func Operations() []string {
	return sortedKeys(operationInputs)
}
