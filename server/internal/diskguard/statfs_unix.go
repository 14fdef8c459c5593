//go:build unix

package diskguard

import "golang.org/x/sys/unix"

// freeBytes returns the bytes of the filesystem of dir available to an
// unprivileged user.
func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil //nolint:unconvert // field types differ by platform
}
