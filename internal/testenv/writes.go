package testenv

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fhirlake/fhirlake/internal/store"
)

// SharedWrites reads every resource of the files matching pattern in a folder of the shared
// data (data/<folder>) as writes without index entries; names ending in .gz are gunzipped. It
// skips tb when no file matches.
func SharedWrites(tb testing.TB, folder, pattern string) []store.ResourceWrite {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(SharedDir(tb), "data", folder, pattern))
	if len(files) == 0 {
		tb.Skip("shared " + folder + " data not present")
	}
	var out []store.ResourceWrite
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			tb.Fatal(err)
		}
		var r io.Reader = fh
		if strings.HasSuffix(f, ".gz") {
			if r, err = gzip.NewReader(fh); err != nil {
				tb.Fatal(err)
			}
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			var env struct{ ResourceType, ID string }
			line := append([]byte(nil), sc.Bytes()...)
			if err := json.Unmarshal(line, &env); err != nil {
				tb.Fatal(err)
			}
			out = append(out, store.ResourceWrite{Type: env.ResourceType, ID: env.ID, Body: line})
		}
		if err := sc.Err(); err != nil {
			tb.Fatal(err)
		}
		fh.Close()
	}
	return out
}
