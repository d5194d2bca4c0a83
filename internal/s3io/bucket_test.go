package s3io

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const otherOwner = "222222222222"

// TestOwnership: a folder made by hand belongs to the default account; a bucket made through
// CreateBucket belongs to its creator, for every Dir over the same folder; another account is
// refused everything.
func TestOwnership(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "by-hand", "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "by-hand", "in", "a.ndjson"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := NewDir(root, testOwner)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := t.Context()
	mine, theirs := d.As(testOwner), d.As(otherOwner)
	if err := theirs.CreateBucket("made-by-api", "eu-west-1"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, theirs, "made-by-api", "x/y", "secret")

	// A second process over the same folder agrees.
	d2, err := NewDir(root, testOwner)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	for _, tc := range []struct {
		bucket, owner, stranger string
	}{{"by-hand", testOwner, otherOwner}, {"made-by-api", otherOwner, testOwner}} {
		for _, dir := range []*Dir{d, d2} {
			owner, stranger := dir.As(tc.owner), dir.As(tc.stranger)
			if b, err := owner.Bucket(tc.bucket); err != nil || b.Owner != tc.owner {
				t.Errorf("%s: Bucket = %+v, %v; want owner %s", tc.bucket, b, err, tc.owner)
			}
			if err := dir.Access(tc.owner, tc.bucket); err != nil {
				t.Errorf("%s: Access(owner) = %v", tc.bucket, err)
			}
			if err := dir.Access(tc.stranger, tc.bucket); !errors.Is(err, ErrAccessDenied) {
				t.Errorf("%s: Access(stranger) = %v, want ErrAccessDenied", tc.bucket, err)
			}
			if _, err := stranger.Bucket(tc.bucket); !errors.Is(err, ErrAccessDenied) {
				t.Errorf("%s: stranger Bucket = %v", tc.bucket, err)
			}
			if err := stranger.List(ctx, tc.bucket, "", func(Object) error { return nil }); !errors.Is(err, ErrAccessDenied) {
				t.Errorf("%s: stranger List = %v", tc.bucket, err)
			}
			if _, err := stranger.Open(ctx, tc.bucket, "x/y", 0); !errors.Is(err, ErrAccessDenied) {
				t.Errorf("%s: stranger Open = %v", tc.bucket, err)
			}
			if err := stranger.Put(ctx, tc.bucket, "planted", strings.NewReader("x")); !errors.Is(err, ErrAccessDenied) {
				t.Errorf("%s: stranger Put = %v", tc.bucket, err)
			}
			if err := stranger.Delete(ctx, tc.bucket, "x/y"); !errors.Is(err, ErrAccessDenied) {
				t.Errorf("%s: stranger Delete = %v", tc.bucket, err)
			}
			if _, err := stranger.Copy(ctx, tc.bucket, "x/y", tc.bucket, "copied"); !errors.Is(err, ErrAccessDenied) {
				t.Errorf("%s: stranger Copy = %v", tc.bucket, err)
			}
			if err := stranger.DeleteBucket(ctx, tc.bucket); !errors.Is(err, ErrAccessDenied) {
				t.Errorf("%s: stranger DeleteBucket = %v", tc.bucket, err)
			}
			if _, err := stranger.CreateUpload(ctx, tc.bucket, "k"); !errors.Is(err, ErrAccessDenied) {
				t.Errorf("%s: stranger CreateUpload = %v", tc.bucket, err)
			}
			if err := stranger.CreateBucket(tc.bucket, "us-east-1"); !errors.Is(err, ErrBucketExists) {
				t.Errorf("%s: stranger CreateBucket = %v, want ErrBucketExists", tc.bucket, err)
			}
			if err := owner.CreateBucket(tc.bucket, "us-east-1"); !errors.Is(err, ErrBucketOwned) {
				t.Errorf("%s: owner CreateBucket = %v, want ErrBucketOwned", tc.bucket, err)
			}
		}
	}
	if got := readAll(t, theirs, "made-by-api", "x/y"); got != "secret" {
		t.Errorf("object = %q", got)
	}
	if err := d.Access(otherOwner, "not-there"); err != nil {
		t.Errorf("Access to a missing bucket = %v, want nil", err)
	}
	if err := d.As("").CreateBucket("nobodys", "us-east-1"); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("CreateBucket without an account = %v", err)
	}
	names := func(tn *Tenant) []string {
		bs, err := tn.Buckets()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, b := range bs {
			out = append(out, b.Name+"@"+b.Region)
		}
		return out
	}
	if diff := cmp.Diff([]string{"by-hand@"}, names(mine)); diff != "" {
		t.Errorf("default account's buckets (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"made-by-api@eu-west-1"}, names(theirs)); diff != "" {
		t.Errorf("other account's buckets (-want +got):\n%s", diff)
	}
	// The record is in the bucket folder and never listed or reachable as a key.
	if _, err := os.Stat(filepath.Join(root, "made-by-api", ownerFile)); err != nil {
		t.Errorf("owner record: %v", err)
	}
	if got := listAll(t, theirs, "made-by-api", ""); len(got) != 1 {
		t.Errorf("List = %v, want only x/y", got)
	}
}

// TestGuard: the context-scoped Store serves the account the context carries, and nothing
// without one.
func TestGuard(t *testing.T) {
	t.Parallel()
	tn, _ := newTestDir(t)
	if err := tn.CreateBucket("bkt", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	g := tn.d.Guard()
	ctx := t.Context()
	if err := g.Put(ctx, "bkt", "k", strings.NewReader("x")); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("Put without an account = %v", err)
	}
	if err := g.Put(WithAccount(ctx, otherOwner), "bkt", "k", strings.NewReader("x")); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("Put as another account = %v", err)
	}
	mine := WithAccount(ctx, testOwner)
	if err := g.Put(mine, "bkt", "k", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Open(ctx, "bkt", "k", 0); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("Open without an account = %v", err)
	}
	rc, err := g.Open(mine, "bkt", "k", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "x" {
		t.Errorf("Open = %q", b)
	}
}

// TestCreateBucketRace: of many accounts creating one name at once, exactly one wins and owns it.
func TestCreateBucketRace(t *testing.T) {
	t.Parallel()
	tn, _ := newTestDir(t)
	accounts := []string{"100000000001", "100000000002", "100000000003", "100000000004", "100000000005", "100000000006"}
	errs := make([]error, len(accounts))
	var wg sync.WaitGroup
	for i, a := range accounts {
		wg.Go(func() { errs[i] = tn.d.As(a).CreateBucket("contested", "us-east-1") })
	}
	wg.Wait()
	winner := ""
	for i, err := range errs {
		switch {
		case err == nil && winner == "":
			winner = accounts[i]
		case err == nil:
			t.Errorf("both %s and %s created the bucket", winner, accounts[i])
		case !errors.Is(err, ErrBucketExists):
			t.Errorf("%s: %v, want ErrBucketExists", accounts[i], err)
		}
	}
	if b, err := tn.d.As(winner).Bucket("contested"); err != nil || b.Owner != winner {
		t.Errorf("owner = %+v, %v; want %s", b, err, winner)
	}
}

// TestDeleteBucket: only an empty bucket of one's own is deleted, and its name is free again.
func TestDeleteBucket(t *testing.T) {
	t.Parallel()
	tn, root := newTestDir(t)
	ctx := t.Context()
	theirs := tn.d.As(otherOwner)
	if err := theirs.CreateBucket("bkt", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, theirs, "bkt", "a/b", "x")
	if err := theirs.DeleteBucket(ctx, "bkt"); !errors.Is(err, ErrBucketNotEmpty) {
		t.Errorf("DeleteBucket of a full bucket = %v", err)
	}
	if err := theirs.Delete(ctx, "bkt", "a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := theirs.CreateUpload(ctx, "bkt", "pending"); err != nil {
		t.Fatal(err)
	}
	if err := tn.DeleteBucket(ctx, "bkt"); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("DeleteBucket by another account = %v", err)
	}
	if err := theirs.DeleteBucket(ctx, "bkt"); err != nil {
		t.Fatalf("DeleteBucket: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "bkt")); !os.IsNotExist(err) {
		t.Errorf("bucket folder left: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, tempDir)); len(entries) != 0 {
		t.Errorf("temp folder holds %v", entries)
	}
	if err := theirs.DeleteBucket(ctx, "bkt"); !errors.Is(err, ErrNoSuchBucket) {
		t.Errorf("second DeleteBucket = %v", err)
	}
	if err := tn.CreateBucket("bkt", "us-east-1"); err != nil {
		t.Errorf("name not free after deletion: %v", err)
	}
}

// TestWalkSkips: Walk resumes after the key fn returns, which is how a delimiter listing skips a
// common prefix, and starts after the given key.
func TestWalkSkips(t *testing.T) {
	t.Parallel()
	tn, _ := newTestDir(t)
	if err := tn.CreateBucket("bkt", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d"} {
		mustPut(t, tn, "bkt", k, "x")
	}
	var got []string
	err := tn.Walk(t.Context(), "bkt", "", "a/1", func(o Object) (string, error) {
		got = append(got, o.Key)
		if i := strings.IndexByte(o.Key, '/'); i >= 0 {
			return o.Key[:i+1] + "\xff", nil
		}
		return "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a/2", "b", "c/1", "d"}, got); diff != "" {
		t.Errorf("Walk (-want +got):\n%s", diff)
	}
}

// TestMultipart: parts stream to disk and are assembled in order; wrong ETags, short parts and
// unknown uploads are refused.
func TestMultipart(t *testing.T) {
	t.Parallel()
	tn, root := newTestDir(t)
	ctx := t.Context()
	if err := tn.CreateBucket("bkt", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	id, err := tn.CreateUpload(ctx, "bkt", "big/object")
	if err != nil {
		t.Fatal(err)
	}
	first := bytes.Repeat([]byte("a"), MinPartSize)
	p1, err := tn.UploadPart(ctx, "bkt", "big/object", id, 1, bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := tn.UploadPart(ctx, "bkt", "big/object", id, 2, strings.NewReader("tail"))
	if err != nil {
		t.Fatal(err)
	}
	small, err := tn.UploadPart(ctx, "bkt", "big/object", id, 3, strings.NewReader("short"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		parts []Part
		want  error
	}{
		{"wrong etag", []Part{p1, {Number: 2, ETag: p1.ETag}}, ErrInvalidPart},
		{"descending", []Part{p2, p1}, ErrInvalidPart},
		{"short middle part", []Part{p1, p2, small}, ErrPartTooSmall},
		{"none", nil, ErrInvalidPart},
		{"path in etag", []Part{p1, {Number: 2, ETag: "/../../../../big/object-padding-"}}, ErrInvalidPart},
	} {
		if _, err := tn.CompleteUpload(ctx, "bkt", "big/object", id, tc.parts); !errors.Is(err, tc.want) {
			t.Errorf("%s: Complete = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := tn.UploadPart(ctx, "bkt", "other/key", id, 1, strings.NewReader("x")); !errors.Is(err, ErrNoSuchUpload) {
		t.Errorf("part for another key = %v", err)
	}
	if _, err := tn.UploadPart(ctx, "bkt", "big/object", "../../escape", 1, strings.NewReader("x")); !errors.Is(err, ErrNoSuchUpload) {
		t.Errorf("part for a crafted id = %v", err)
	}
	obj, err := tn.CompleteUpload(ctx, "bkt", "big/object", id, []Part{p1, {Number: 2, ETag: `"` + p2.ETag + `"`}})
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(MinPartSize + 4); obj.Size != want {
		t.Errorf("size = %d, want %d", obj.Size, want)
	}
	if got := readAll(t, tn, "bkt", "big/object"); got != string(first)+"tail" {
		t.Errorf("content differs (%d bytes)", len(got))
	}
	if _, err := tn.UploadPart(ctx, "bkt", "big/object", id, 4, strings.NewReader("x")); !errors.Is(err, ErrNoSuchUpload) {
		t.Errorf("part after completion = %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "bkt", uploadsDir)); len(entries) != 0 {
		t.Errorf("staging left: %v", entries)
	}
	id2, err := tn.CreateUpload(ctx, "bkt", "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.AbortUpload(ctx, "bkt", "k", id2); err != nil {
		t.Fatal(err)
	}
	if err := tn.AbortUpload(ctx, "bkt", "k", id2); !errors.Is(err, ErrNoSuchUpload) {
		t.Errorf("second abort = %v", err)
	}
	if got := listAll(t, tn, "bkt", ""); len(got) != 1 {
		t.Errorf("List = %v, want only the completed object", got)
	}
}

// TestReadErrorAbortsPut: a body whose reader fails (as the S3 API's verifying reader does on a
// bad checksum) leaves no object and the previous one intact.
func TestReadErrorAbortsPut(t *testing.T) {
	t.Parallel()
	tn, _ := newTestDir(t)
	if err := tn.CreateBucket("bkt", "us-east-1"); err != nil {
		t.Fatal(err)
	}
	mustPut(t, tn, "bkt", "k", "old")
	bad := errors.New("checksum mismatch")
	_, err := tn.PutObject(context.Background(), "bkt", "k", io.MultiReader(strings.NewReader("new"), errReader{bad}))
	if !errors.Is(err, bad) {
		t.Fatalf("PutObject = %v, want the reader's error", err)
	}
	if got := readAll(t, tn, "bkt", "k"); got != "old" {
		t.Errorf("object = %q, want old", got)
	}
}
