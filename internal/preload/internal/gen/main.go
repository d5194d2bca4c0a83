// Command gen writes the bundled Synthea sample that SYNTHEA-preloaded data stores start with: the
// complete records of the first few patients of shared/data/synthea (every resource that refers to
// them) and the organizations and practitioners those records refer to, as gzip NDJSON.
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

var ref = regexp.MustCompile(`"reference":"(Patient|Organization|Practitioner)/([A-Za-z0-9\-.]+)"`)

func main() {
	shared := flag.String("shared", "../../../shared", "the shared folder")
	patients := flag.Int("patients", 3, "how many patients to take")
	out := flag.String("out", "synthea.ndjson.gz", "output file")
	flag.Parse()
	dir := filepath.Join(*shared, "data", "synthea")
	files, err := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	if err != nil || len(files) == 0 {
		log.Fatalf("no synthea files in %s", dir)
	}
	sort.Strings(files)
	lines := map[string][][]byte{} // by file
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			log.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			lines[f] = append(lines[f], append([]byte(nil), sc.Bytes()...))
		}
		fh.Close()
	}
	keep := map[string]bool{} // "Type/id"
	for _, l := range lines[filepath.Join(dir, "Patient.ndjson")][:*patients] {
		var r struct{ ID string }
		json.Unmarshal(l, &r)
		keep["Patient/"+r.ID] = true
	}
	var selected [][]byte
	need := map[string]bool{}
	for _, f := range files {
		base := filepath.Base(f)
		if base == "Organization.ndjson" || base == "Practitioner.ndjson" {
			continue
		}
		for _, l := range lines[f] {
			var r struct{ ResourceType, ID string }
			json.Unmarshal(l, &r)
			mine := keep[r.ResourceType+"/"+r.ID]
			for _, m := range ref.FindAllSubmatch(l, -1) {
				if string(m[1]) == "Patient" && keep["Patient/"+string(m[2])] {
					mine = true
				}
			}
			if !mine {
				continue
			}
			selected = append(selected, l)
			for _, m := range ref.FindAllSubmatch(l, -1) {
				if string(m[1]) != "Patient" {
					need[string(m[1])+"/"+string(m[2])] = true
				}
			}
		}
	}
	for _, base := range []string{"Organization.ndjson", "Practitioner.ndjson"} {
		for _, l := range lines[filepath.Join(dir, base)] {
			var r struct{ ResourceType, ID string }
			json.Unmarshal(l, &r)
			if need[r.ResourceType+"/"+r.ID] {
				selected = append(selected, l)
			}
		}
	}
	fh, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(fh, gzip.BestCompression)

	for _, l := range selected {
		zw.Write(l)
		zw.Write([]byte("\n"))
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %d resources to %s\n", len(selected), *out)
}
