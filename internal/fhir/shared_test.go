package fhir

import (
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// forEachLine calls fn with every line of the NDJSON file at path (gzip when
// the name ends in .gz). The line is only valid during the call. It must be
// called from the test goroutine; other goroutines use readLines.
func forEachLine(t testing.TB, path string, fn func(line []byte, n int)) {
	t.Helper()
	if err := readLines(path, fn); err != nil {
		t.Fatal(err)
	}
}

// readLines is forEachLine returning its error.
func readLines(path string, fn func(line []byte, n int)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	br := bufio.NewReaderSize(r, 1<<20)
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: collect it whole.
			full := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				full = append(full, line...)
			}
			line = full
		}
		line = trimNewline(line)
		if len(line) > 0 {
			fn(line, n)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// ndjsonFiles lists the .ndjson (and .ndjson.gz) files of a data folder.
func ndjsonFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("data folder not available: %v", err)
	}
	var files []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".ndjson") || strings.HasSuffix(e.Name(), ".ndjson.gz") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return files
}
