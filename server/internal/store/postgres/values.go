package postgres

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// PostgreSQL's text and jsonb cannot hold NUL (U+0000): a text value refuses
// the byte 0x00 and jsonb the escape \u0000. Validation accepts both (they
// are valid UTF-8 and valid JSON), so the store replaces NUL with U+FFFD
// (the replacement character) in the columns of type text: the body, and
// the strings and keys of the attributes. Filter values get the same
// replacement so that a filter on the text that was logged still matches.
// A filter value no stored string can equal (invalid UTF-8, which
// PostgreSQL refuses as a parameter; NUL in a service name) matches
// nothing, as in the embedded store.
// Every other field is kept in protobuf (bytea) columns and is exact.

// pgText returns s with every NUL replaced by U+FFFD.
func pgText(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// storableServices returns the names of ss that a stored service can have:
// validation refuses control characters and invalid UTF-8 in a service, and
// PostgreSQL refuses them as parameters.
func storableServices(ss []string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
			out = append(out, s)
		}
	}
	return out
}

// pgAttrs returns the attributes document doc (valid JSON) as text with
// every escape \u0000 replaced by \ufffd, which has the same length. An
// escaped backslash followed by "u0000" is text, not an escape, and stays.
func pgAttrs(doc []byte) string {
	if !bytes.Contains(doc, []byte(`u0000`)) {
		return string(doc)
	}
	out := []byte(string(doc))
	for i := 0; i < len(out); i++ {
		if out[i] != '\\' || i+1 >= len(out) {
			continue
		}
		if out[i+1] == 'u' && i+6 <= len(out) && string(out[i+2:i+6]) == "0000" {
			copy(out[i+2:i+6], "fffd")
			i += 5
			continue
		}
		i++ // skip the escaped character
	}
	return string(out)
}

// permanentCode reports whether a PostgreSQL error with this SQLSTATE is
// one that retrying the same write cannot fix: a data exception (class 22:
// invalid byte sequence, value too long, numeric out of range, ...), an
// integrity violation (class 23) other than check_violation (23514, also
// what a row gets whose day partition another replica's retention dropped:
// the retry recreates it), or a program limit exceeded (class 54, e.g. an
// index row or a value too large). Connection, resource (disk full, out of
// memory, too many connections), lock, serialization and schema errors are
// retried.
func permanentCode(code string) bool {
	switch {
	case len(code) != 5:
		return false
	case code == "23514":
		return false
	}
	switch code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}

// classify marks err store.ErrUnstorable when PostgreSQL refused the data.
func classify(err error) error {
	var pgErr *pgconn.PgError
	if err != nil && errors.As(err, &pgErr) && permanentCode(pgErr.Code) {
		return fmt.Errorf("%w: %w", store.ErrUnstorable, err)
	}
	return err
}
