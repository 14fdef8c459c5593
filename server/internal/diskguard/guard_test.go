package diskguard

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		16 << 20: "16.0 MiB", 3 << 30: "3.0 GiB", 5 << 40: "5.0 TiB",
	} {
		assert.Equal(t, want, Bytes(n), "%d", n)
	}
}

func TestNewErrors(t *testing.T) {
	_, err := New(Options{Dir: t.TempDir(), Reserve: -1})
	assert.ErrorContains(t, err, "negative")
	_, err = New(Options{Dir: "/nonexistent/sawmill-diskguard"})
	assert.ErrorContains(t, err, `free space of "/nonexistent/sawmill-diskguard"`)
}
