package importer

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestReadChunkBoundaries checks the invariant the resume logic rests on: every chunk ends exactly
// where the next one starts (byte offset and line number), including chunks cut because their
// buffer filled before a large line, and resuming at any chunk end yields the remaining lines.
func TestReadChunkBoundaries(t *testing.T) {
	t.Parallel()
	var input bytes.Buffer
	var lines []string
	for i := 1; i <= 3000; i++ {
		pad := strings.Repeat("x", (i*7919)%9000) // sizes vary up to 9 KB, so the 1 MiB slab fills before 512 lines
		l := fmt.Sprintf(`{"resourceType":"Patient","id":"p%d","text":"%s"}`, i, pad)
		if i%97 == 0 {
			l = "" // blank lines count as lines but hold no resource
		}
		lines = append(lines, l)
		input.WriteString(l + "\n")
	}
	data := input.Bytes()
	run := func(offset, line int64) []chunk {
		r := &run{im: New(Config{MaxLine: 1 << 20}), cp: checkpoint{Offset: offset, Line: line}}
		out := make(chan chunk, 10000)
		src := &countingReader{r: bytes.NewReader(data[offset:]), n: offset}
		if err := r.read(context.Background(), src, src, out); err != nil {
			t.Fatal(err)
		}
		close(out)
		var cs []chunk
		for c := range out {
			cs = append(cs, c)
		}
		return cs
	}
	chunks := run(0, 0)
	slabCut := 0
	for i, c := range chunks {
		if len(c.lines) < 512 && i < len(chunks)-1 {
			slabCut++
		}
		for j, n := range c.lineNos {
			if got, want := string(c.lines[j]), lines[n-1]; got != want {
				t.Fatalf("chunk %d line %d: content mismatch", i, n)
			}
		}
		if i+1 < len(chunks) && len(chunks[i+1].lineNos) > 0 {
			next := chunks[i+1].lineNos[0]
			if c.endLine >= next {
				t.Fatalf("chunk %d ends after line %d but the next chunk starts at line %d", i, c.endLine, next)
			}
			if want := int64(bytes.Count(data[:c.endOffset], []byte("\n"))); want != c.endLine {
				t.Fatalf("chunk %d: end offset %d is after %d lines, not %d", i, c.endOffset, want, c.endLine)
			}
		}
	}
	if slabCut == 0 {
		t.Fatal("no chunk was cut by a full buffer; the test does not cover that case")
	}
	// Resume at every chunk end: the rest of the file is read, numbered as in the full read.
	for i, c := range chunks[:len(chunks)-1] {
		var got []int64
		for _, rc := range run(c.endOffset, c.endLine) {
			got = append(got, rc.lineNos...)
		}
		var want []int64
		for _, later := range chunks[i+1:] {
			want = append(want, later.lineNos...)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("resume after chunk %d: lines differ", i)
		}
	}
}

// TestReadLongLines reads a 9 MiB line whole, and reports a line over MaxLine by its number while
// the lines after it keep their numbers and offsets.
func TestReadLongLines(t *testing.T) {
	t.Parallel()
	big := `{"resourceType":"Binary","id":"b1","contentType":"text/plain","data":"` + strings.Repeat("QUJD", 9<<18) + `"}`
	huge := strings.Repeat("x", 11<<20)
	input := "first\n" + big + "\n" + huge + "\nlast\n"
	r := &run{im: New(Config{MaxLine: 10 << 20})}
	out := make(chan chunk, 100)
	src := &countingReader{r: strings.NewReader(input)}
	if err := r.read(context.Background(), src, src, out); err != nil {
		t.Fatal(err)
	}
	close(out)
	var lines []string
	var nums, tooLong []int64
	var end chunk
	for c := range out {
		for i, l := range c.lines {
			lines = append(lines, string(l))
			nums = append(nums, c.lineNos[i])
		}
		tooLong = append(tooLong, c.tooLong...)
		end = c
	}
	if len(lines) != 3 || lines[0] != "first" || lines[1] != big || lines[2] != "last" {
		t.Fatalf("read %d lines (sizes %d)", len(lines), len(lines[1]))
	}
	if fmt.Sprint(nums) != "[1 2 4]" || fmt.Sprint(tooLong) != "[3]" {
		t.Errorf("line numbers %v, too long %v", nums, tooLong)
	}
	if end.endOffset != int64(len(input)) || end.endLine != 4 {
		t.Errorf("end = %d/%d, want %d/4", end.endOffset, end.endLine, len(input))
	}
}

// TestReadMaxLineBoundary: a line of exactly MaxLine bytes is kept, one byte more is too long.
func TestReadMaxLineBoundary(t *testing.T) {
	t.Parallel()
	const max = 3 << 20
	input := strings.Repeat("a", max) + "\n" + strings.Repeat("b", max+1) + "\nend\n"
	r := &run{im: New(Config{MaxLine: max})}
	out := make(chan chunk, 100)
	src := &countingReader{r: strings.NewReader(input)}
	if err := r.read(context.Background(), src, src, out); err != nil {
		t.Fatal(err)
	}
	close(out)
	var kept []int
	var tooLong []int64
	for c := range out {
		for _, l := range c.lines {
			kept = append(kept, len(l))
		}
		tooLong = append(tooLong, c.tooLong...)
	}
	if fmt.Sprint(kept) != fmt.Sprint([]int{max, 3}) || fmt.Sprint(tooLong) != "[2]" {
		t.Errorf("kept %v, too long %v", kept, tooLong)
	}
}
