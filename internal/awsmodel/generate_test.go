package awsmodel

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/fhirlake/fhirlake/internal/awsmodel/internal/codegen"
	"github.com/fhirlake/fhirlake/internal/testenv"
)

const modelFile = "healthlake-2017-07-01.json"

// TestGeneratedUpToDate regenerates the tables from the shared model, when
// the checkout has it next to the module, and compares with model_gen.go.
func TestGeneratedUpToDate(t *testing.T) {
	t.Parallel()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	model, err := os.ReadFile(filepath.Join(root, "..", "shared", "spec", modelFile))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("shared model not found next to the module")
	}
	if err != nil {
		t.Fatal(err)
	}
	want, err := codegen.Generate(model, modelFile)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	got, err := os.ReadFile("model_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("model_gen.go is stale; run go generate ./internal/awsmodel")
	}
}
