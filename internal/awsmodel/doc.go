// Package awsmodel validates HealthLake control-plane request bodies against
// the service's Smithy model, the way the AWS front end does before an
// operation runs.
//
// It owns the model-derived tables (model_gen.go, generated from the Smithy
// JSON AST by ./internal/gen), the JSON kind checks that make a body a
// SerializationException, and the constraint checks (required, length,
// pattern, enum, range, union, list length) whose failures make a
// ValidationException with AWS's message wording. It does not route
// requests, decode bodies into wire structs, write error responses or apply
// any business rule beyond the model; those belong to awsjson and
// controlplane.
//
// Patterns are the model's ECMAScript patterns run by Go's RE2 engine. The
// three model patterns RE2 rejects for their repeat counts above 1000 are
// rewritten by the generator to a starred form plus an explicit length
// check in characters; messages still quote the pattern as the model
// writes it.
package awsmodel

//go:generate go run ./internal/gen -model ../../../shared/spec/healthlake-2017-07-01.json
