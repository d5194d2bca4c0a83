package s3io

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames from to to, both relative to the root, failing with an error wrapping
// fs.ErrExist when to exists. It uses renameat2(RENAME_NOREPLACE), so the check and the rename
// are one step; on a file system that does not support the flag it falls back to a check
// followed by a rename.
func (d *Dir) renameNoReplace(from, to string) error {
	fd := int(d.rootDir.Fd())
	err := unix.Renameat2(fd, from, fd, to, unix.RENAME_NOREPLACE)
	runtime.KeepAlive(d.rootDir)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST), errors.Is(err, unix.ENOTEMPTY):
		return fmt.Errorf("rename %s: %w", to, fs.ErrExist)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		return d.checkThenRename(from, to)
	}
	return fmt.Errorf("rename %s: %w", from, err)
}
