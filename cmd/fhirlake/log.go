package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// newLogger returns the service's logger: JSON lines (format "json") or logfmt-style text
// ("text"), at level. Every duration is written in one unit, milliseconds, under its key with an
// "_ms" suffix ("duration" → "duration_ms"), whatever the code logged it as.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: millis}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want json or text", format)
}

// millis rewrites a time.Duration attribute as float milliseconds under key+"_ms".
func millis(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	key := a.Key
	if !strings.HasSuffix(key, "_ms") {
		key += "_ms"
	}
	return slog.Float64(key, float64(a.Value.Duration())/float64(time.Millisecond))
}
