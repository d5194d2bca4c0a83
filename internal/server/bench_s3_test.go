package server_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// patternReader yields n bytes without holding them.
type patternReader struct{ left int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(b)), p.left)
	for i := range b[:n] {
		b[i] = byte(i)
	}
	p.left -= n
	return int(n), nil
}

// heapPeak samples the live heap every millisecond until stop is closed and returns the largest
// HeapInuse seen, in bytes.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// BenchmarkS3PutObject streams 64 MiB objects through the S3 API (UNSIGNED-PAYLOAD, eight at a
// time) and reports throughput and the live heap above its level before the uploads; the
// baseline writes the same bytes to files in the same folder (write, fsync, rename), the floor
// under any PutObject.
func BenchmarkS3PutObject(b *testing.B) {
	const size = 64 << 20
	const parallel = 8
	ts := start(b, newConfig(b))
	ctx := context.Background()
	if _, err := ts.s3Client("test", "test").CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
		b.Fatal(err)
	}
	put := func(key string) error {
		req, _ := http.NewRequest(http.MethodPut, ts.URL+"/bench/"+key, &patternReader{left: size})
		req.ContentLength = size
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, req,
			"UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Errorf("PUT %s: %d", key, resp.StatusCode)
		}
		return nil
	}
	raw := func(key string) error {
		dir := filepath.Join(ts.Cfg.S3Dir, "bench")
		f, err := os.CreateTemp(dir, ".raw-")
		if err != nil {
			return err
		}
		if _, err := io.CopyBuffer(f, &patternReader{left: size}, make([]byte, 64<<10)); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		f.Close()
		return os.Rename(f.Name(), filepath.Join(dir, "raw-"+key))
	}
	for _, bc := range []struct {
		name string
		fn   func(string) error
	}{{"raw-file", raw}, {"s3-put", put}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(size * parallel)
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := ms.HeapInuse
			stop := make(chan struct{})
			peak := heapPeak(stop)
			var n atomic.Int64
			for b.Loop() {
				var wg sync.WaitGroup
				for range parallel {
					wg.Go(func() {
						if err := bc.fn(strconv.FormatInt(n.Add(1), 10)); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
			}
			close(stop)
			above := 0.0
			if p := <-peak; p > base {
				above = float64(p-base) / (1 << 20)
			}
			b.ReportMetric(above, "heap-MiB-above-base")
		})
	}
}
