//go:build !linux

package s3io

// renameNoReplace renames from to to, both relative to the root, failing with an error wrapping
// fs.ErrExist when to exists. Without renameat2 the check and the rename are two steps.
func (d *Dir) renameNoReplace(from, to string) error {
	return d.checkThenRename(from, to)
}
