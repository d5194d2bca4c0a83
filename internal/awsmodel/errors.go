package awsmodel

import "errors"

// ErrUnknownOperation is returned (wrapped) by Validate for an operation
// name the model does not define. The caller maps it to
// UnknownOperationException.
var ErrUnknownOperation = errors.New("unknown operation")

// ValidationError reports constraint failures; it becomes a
// ValidationException whose message is Message.
type ValidationError struct {
	// Message is the whole AWS-style text, e.g. "1 validation error
	// detected: Value '0' at 'maxResults' failed to satisfy constraint:
	// Member must have value greater than or equal to 1".
	Message string
	// Fields lists every failure in model member order, depth first.
	Fields []FieldError
}

func (e *ValidationError) Error() string { return e.Message }

// FieldError is one constraint failure.
type FieldError struct {
	// Path is the lowerCamelCase dotted member path, e.g.
	// "jobOutputDataConfig.s3Configuration.kmsKeyId"; list items are
	// "tags.1.member.key" (1-based, AWS style).
	Path string
	// Constraint is the failed constraint in AWS wording, e.g. "Member
	// must not be null".
	Constraint string
}

// SerializationError reports a body that cannot be read as the operation's
// input: not a JSON object, or a member of the wrong JSON kind. It becomes a
// SerializationException.
type SerializationError struct {
	Message string
}

func (e *SerializationError) Error() string { return e.Message }
