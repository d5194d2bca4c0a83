package search

//go:generate go run ./internal/gen -shared ../../../shared -out registry_gen.go
