// Package testenv helps tests and benchmarks: it locates what they read from outside the module
// (the module root and the shared reference data beside the checkout, ../shared), provides
// PostgreSQL (the server of TEST_DATABASE_URL or one it starts, a fresh schema per test, a
// server of a test's own to stop and restart), gates the job workers' S3 access, and breaks the
// environment on purpose (a full tmpfs, a read-only folder). SharedWrites reads shared NDJSON as
// store writes for benchmarks.
// It is imported by test files only; the service never reads ../shared.
package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// ModuleRoot returns the folder holding go.mod, walking up from the current directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the current directory")
		}
		dir = parent
	}
}

// Shared returns the shared folder (../shared from the module root), or "" when it is absent.
func Shared() string {
	root, err := ModuleRoot()
	if err != nil {
		return ""
	}
	shared := filepath.Join(filepath.Dir(root), "shared")
	if _, err := os.Stat(filepath.Join(shared, "data")); err != nil {
		return ""
	}
	return shared
}

// SharedDir returns the shared folder, skipping the test or benchmark when it is absent.
func SharedDir(tb testing.TB) string {
	tb.Helper()
	s := Shared()
	if s == "" {
		tb.Skip("shared reference data (../shared) not present")
	}
	return s
}
