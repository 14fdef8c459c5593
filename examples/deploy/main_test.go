package deploy

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the sawmill binary built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if server.Binary != "" {
		_ = os.RemoveAll(filepath.Dir(server.Binary))
	}
	os.Exit(code)
}
