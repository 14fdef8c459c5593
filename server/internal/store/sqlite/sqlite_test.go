package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sawmill-dev/sawmill/server/internal/store"
	"github.com/sawmill-dev/sawmill/server/internal/store/sqlite"
	"github.com/sawmill-dev/sawmill/server/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "logs.db"), sqlite.Options{})
		require.NoError(t, err)
		return s
	}, storetest.Behavior{})
}
