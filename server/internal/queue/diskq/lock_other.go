//go:build !unix

package diskq

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir only creates dir/LOCK: there is no advisory lock on this platform.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("diskq: open lock %q: %w", path, err)
	}
	return f, nil
}
