package s3io

import (
	"fmt"
	"io/fs"
)

// checkThenRename renames from to to unless to exists: the fallback of renameNoReplace where the
// system cannot do both in one step.
func (d *Dir) checkThenRename(from, to string) error {
	if _, err := d.root.Lstat(to); err == nil {
		return fmt.Errorf("rename %s: %w", to, fs.ErrExist)
	}
	return d.root.Rename(from, to)
}
