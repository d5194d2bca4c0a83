// Command gen writes model_gen.go, the validation tables of package awsmodel,
// from a Smithy JSON AST model. It is run by go generate in the awsmodel
// directory:
//
//	go run ./internal/gen -model <path to healthlake-2017-07-01.json>
//
// Only the base name of the model file is written into the output, so the
// generated file does not depend on where the model sits on disk.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fhirlake/fhirlake/internal/awsmodel/internal/codegen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	model := fs.String("model", "", "path of the Smithy JSON AST model (required)")
	out := fs.String("out", "model_gen.go", "path of the Go file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" {
		return fmt.Errorf("-model is required")
	}
	data, err := os.ReadFile(*model)
	if err != nil {
		return err
	}
	src, err := codegen.Generate(data, filepath.Base(*model))
	if err != nil {
		return err
	}
	return os.WriteFile(*out, src, 0o644)
}
