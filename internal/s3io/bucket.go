package s3io

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Bucket describes a bucket of a Dir.
type Bucket struct {
	Name string
	// Owner is the account id that owns the bucket: the recorded creator, or the Dir's default
	// account for a folder without an owner record.
	Owner string
	// Region is the region the bucket was created in; "" for a folder made by hand.
	Region string
	// Created is the recorded creation time, or the folder's modification time.
	Created time.Time
}

// ownerRecord is the JSON content of a bucket's owner file.
type ownerRecord struct {
	Owner   string    `json:"owner"`
	Region  string    `json:"region,omitempty"`
	Created time.Time `json:"created"`
}

// maxOwnerRecord bounds what is read of an owner file.
const maxOwnerRecord = 4 << 10

// openBucket opens a bucket folder and reads its owner record through the same handle.
func (d *Dir) openBucket(name string) (*bucket, error) {
	if err := checkBucket(name); err != nil {
		return nil, err
	}
	r, err := d.root.OpenRoot(name)
	if isNotExist(err) {
		return nil, fmt.Errorf("bucket %s: %w", name, ErrNoSuchBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", name, fsFault(err))
	}
	b := &bucket{root: r, info: Bucket{Name: name, Owner: d.defaultOwner}}
	if err := b.readOwner(); err != nil {
		r.Close()
		return nil, fmt.Errorf("bucket %s: owner record: %w", name, err)
	}
	return b, nil
}

// readOwner fills b.info from the owner record, or from the folder when there is none.
func (b *bucket) readOwner() error {
	f, err := b.root.Open(ownerFile)
	if isNotExist(err) {
		st, err := b.root.Stat(".")
		if err != nil {
			return err
		}
		b.info.Created = st.ModTime()
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxOwnerRecord))
	if err != nil {
		return err
	}
	var rec ownerRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return err
	}
	if rec.Owner == "" {
		return errors.New("no owner")
	}
	b.info.Owner, b.info.Region, b.info.Created = rec.Owner, rec.Region, rec.Created
	return nil
}

// Access reports whether account may use the named bucket: nil when the account owns it or the
// bucket does not exist (yet), an error wrapping ErrAccessDenied when another account owns it,
// ErrInvalidBucket for a bad name.
func (d *Dir) Access(account, name string) error {
	b, err := d.openBucket(name)
	if errors.Is(err, ErrNoSuchBucket) {
		return nil
	}
	if err != nil {
		return err
	}
	defer b.close()
	if b.info.Owner != account || account == "" {
		return fmt.Errorf("bucket %s: %w", name, ErrAccessDenied)
	}
	return nil
}

// Buckets returns the buckets the account owns, by name.
func (t *Tenant) Buckets() ([]Bucket, error) {
	var out []Bucket
	for _, name := range t.d.bucketNames() {
		b, err := t.d.openBucket(name)
		if errors.Is(err, ErrNoSuchBucket) {
			continue // deleted since listed
		}
		if err != nil {
			return nil, err
		}
		if b.info.Owner == t.account {
			out = append(out, b.info)
		}
		b.close()
	}
	return out, nil
}

// Bucket describes a bucket the account owns: ErrNoSuchBucket when it does not exist,
// ErrAccessDenied when another account owns it.
func (t *Tenant) Bucket(name string) (Bucket, error) {
	b, err := t.open(name)
	if err != nil {
		return Bucket{}, err
	}
	defer b.close()
	return b.info, nil
}

// CreateBucket creates a bucket owned by the account, recording region. The folder is
// assembled with its owner record in the root's temp folder and renamed into place without
// replacing anything, so no process ever sees it without its owner. A taken name is
// ErrBucketOwned (the account's own) or ErrBucketExists (another account's, or a name that is
// not a folder).
func (t *Tenant) CreateBucket(name, region string) error {
	if err := checkBucket(name); err != nil {
		return err
	}
	if t.account == "" {
		return fmt.Errorf("create bucket %s: %w", name, ErrAccessDenied)
	}
	if err := t.taken(name); err != nil {
		return err
	}
	d := t.d
	if err := d.root.MkdirAll(tempDir, 0o777); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	stage := filepath.Join(tempDir, reservedPrefix+"new-"+rand.Text())
	if err := d.root.Mkdir(stage, 0o777); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	rec, _ := json.Marshal(ownerRecord{Owner: t.account, Region: region, Created: time.Now().UTC()})
	err := writeFile(d.root, filepath.Join(stage, ownerFile), rec)
	if err == nil {
		err = d.renameNoReplace(stage, name)
	}
	if err != nil {
		d.root.RemoveAll(stage)
		if errors.Is(err, fs.ErrExist) {
			if terr := t.taken(name); terr != nil {
				return terr
			}
			return fmt.Errorf("create bucket %s: %w", name, ErrBucketExists)
		}
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// taken returns ErrBucketOwned or ErrBucketExists when name is in use, nil when it is free.
func (t *Tenant) taken(name string) error {
	b, err := t.d.openBucket(name)
	if errors.Is(err, ErrNoSuchBucket) {
		if _, serr := t.d.root.Lstat(name); serr == nil {
			return fmt.Errorf("create bucket %s: %w", name, ErrBucketExists) // a file of that name
		}
		return nil
	}
	if err != nil {
		return err
	}
	owner := b.info.Owner
	b.close()
	if owner == t.account {
		return fmt.Errorf("create bucket %s: %w", name, ErrBucketOwned)
	}
	return fmt.Errorf("create bucket %s: %w", name, ErrBucketExists)
}

// writeFile creates name in r with data, synced.
func writeFile(r *os.Root, name string, data []byte) error {
	f, err := r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// DeleteBucket deletes an empty bucket the account owns (ErrBucketNotEmpty otherwise), with
// any multipart uploads in progress. The folder is first renamed aside, so a concurrent Put
// cannot land in it unseen: if it then holds an object, or is not the account's (deleted and
// re-created meanwhile), it is renamed back and the deletion refused.
func (t *Tenant) DeleteBucket(ctx context.Context, name string) error {
	b, err := t.open(name)
	if err != nil {
		return err
	}
	empty, err := b.empty(ctx)
	b.close()
	if err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("delete bucket %s: %w", name, ErrBucketNotEmpty)
	}
	d := t.d
	if err := d.root.MkdirAll(tempDir, 0o777); err != nil {
		return fmt.Errorf("delete bucket %s: %w", name, err)
	}
	aside := filepath.Join(tempDir, reservedPrefix+"del-"+rand.Text())
	if err := d.renameNoReplace(name, aside); err != nil {
		if isNotExist(err) {
			return fmt.Errorf("bucket %s: %w", name, ErrNoSuchBucket)
		}
		return fmt.Errorf("delete bucket %s: %w", name, err)
	}
	refuse := func(reason error) error {
		if err := d.renameNoReplace(aside, name); err != nil {
			return fmt.Errorf("delete bucket %s: %w; restoring the folder failed, it is kept as %s: %w", name, reason, aside, err)
		}
		return fmt.Errorf("delete bucket %s: %w", name, reason)
	}
	moved := &bucket{info: Bucket{Name: name, Owner: d.defaultOwner}}
	if moved.root, err = d.root.OpenRoot(aside); err != nil {
		return refuse(err)
	}
	defer moved.close()
	if err := moved.readOwner(); err != nil {
		return refuse(err)
	}
	if moved.info.Owner != t.account {
		return refuse(ErrAccessDenied)
	}
	if empty, err := moved.empty(ctx); err != nil || !empty {
		return refuse(cmpErr(err, ErrBucketNotEmpty))
	}
	if err := d.root.RemoveAll(aside); err != nil {
		return fmt.Errorf("delete bucket %s: %w", name, err)
	}
	return nil
}

// cmpErr returns err when it is not nil, else fallback.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}
