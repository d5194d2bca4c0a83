// Package preload holds the sample data that a data store created with PreloadDataConfig
// PreloadDataType=SYNTHEA starts with, and loads it. The sample (synthea.ndjson.gz, 820 resources:
// the complete records of three Synthea patients with the organizations and practitioners they
// refer to) is generated from the project's shared test data by `go generate` and embedded, so
// the service never reads the shared folder at run time.
//
// The sample comes from Synthea output published in smart-on-fhir/generated-sample-data,
// Copyright 2018 Boston Children's Hospital, licensed under the Apache License, Version 2.0; it
// was converted to NDJSON (one resource per line, urn:uuid references rewritten to Type/id).
package preload

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fhirlake/fhirlake/internal/store"
)

//go:generate go run ./internal/gen -shared ../../../shared -out synthea.ndjson.gz

//go:embed synthea.ndjson.gz
var synthea []byte

// Store is what loading needs of the store.
type Store interface {
	ResourceCount(ctx context.Context, datastoreID string) (map[string]int64, error)
	ResourceWrite(ctx context.Context, datastoreID string, writes []store.ResourceWrite, now time.Time) ([]store.ResourceWriteResult, error)
}

// Synthea returns the sample's resources, one JSON document each.
func Synthea() ([][]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(synthea))
	if err != nil {
		return nil, fmt.Errorf("open preload sample: %w", err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var out [][]byte
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out, sc.Err()
}

// Load writes the Synthea sample into a data store in one transaction, with index entries from
// index. A store that already holds resources is left as it is, so a load that committed before a
// crash is not repeated; every write is a pure create, so of two loads racing (two nodes) one
// commits and the other changes nothing. It returns the number of resources written.
func Load(ctx context.Context, st Store, datastoreID string, index func(typ string, body []byte) []store.IndexEntry) (int, error) {
	counts, err := st.ResourceCount(ctx, datastoreID)
	if err != nil {
		return 0, err
	}
	for _, n := range counts {
		if n > 0 {
			return 0, nil
		}
	}
	docs, err := Synthea()
	if err != nil {
		return 0, err
	}
	writes := make([]store.ResourceWrite, 0, len(docs))
	for _, d := range docs {
		var head struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if err := json.Unmarshal(d, &head); err != nil || head.ResourceType == "" || head.ID == "" {
			return 0, fmt.Errorf("preload sample: bad resource")
		}
		writes = append(writes, store.ResourceWrite{Type: head.ResourceType, ID: head.ID, Body: d, Index: index(head.ResourceType, d),
			IfNoneExist: true})
	}
	_, err = st.ResourceWrite(ctx, datastoreID, writes, time.Now())
	if errors.Is(err, store.ErrConflict) {
		return 0, nil // loaded by another node meanwhile
	}
	if err != nil {
		return 0, fmt.Errorf("preload: %w", err)
	}
	return len(writes), nil
}
