package sqlite

import (
	"errors"
	"fmt"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// classify marks err store.ErrUnstorable when SQLite refused the data
// itself: a value beyond its length limit (SQLITE_TOOBIG; a block built
// from many large batches can reach it, and the batches then fit one by
// one). A full disk (SQLITE_FULL), a busy or locked database and I/O errors
// are retried.
func classify(err error) error {
	var se *msqlite.Error
	if err != nil && errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_TOOBIG {
		return fmt.Errorf("%w: %w", store.ErrUnstorable, err)
	}
	return err
}
