package store

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// A cursor is the Key of a page's last record, bound to the query that
// produced the page. Its wire form (URL-safe base64, no padding) is
//
//	version (1) | time (8, big endian) | index (uvarint) | len(batch id) (uvarint) | batch id | tag (12)
//
// where tag is the first 12 bytes of SHA-256 over a domain string, the bytes
// before it and the query's scope: its order and every filter but the time
// range (services and attribute filters as sets). DecodeCursor rejects, with
// ErrBadCursor, anything that is not exactly this form: other versions,
// trailing bytes, an index or batch id no record can have, and a tag that
// does not match — garbage, a tampered cursor, or a cursor from another
// filter or order (the odds that a random string passes are 2^-96).
//
// The tag is a checksum, not a MAC: no secret is involved, so every replica
// and every restart accepts the cursors of every other, with nothing to
// share or rotate. Forging one gains nothing a client could not already ask
// for, since a cursor only says where in the query's own results to resume
// (the same as narrowing from/to), and reads are authorised by the token,
// not by the cursor. The time range is left out of the scope on purpose: a
// relative range ("from=-15m") is re-evaluated on every page, and the key
// already positions the next page inside it.
const (
	cursorVersion = 1
	cursorTagLen  = 12
	cursorDomain  = "sawmill search cursor v1\x00"
	// maxCursorBatchID is the longest batch id validation accepts
	// (validate.MaxBatchIDBytes); store cannot import validate.
	maxCursorBatchID = 64
	maxCursorIndex   = 1 << 20
	// MaxCursorLen is the longest cursor EncodeCursor produces, in base64
	// characters; longer input is rejected before decoding.
	MaxCursorLen = (1 + 8 + 3 + 1 + maxCursorBatchID + cursorTagLen + 2) * 4 / 3
)

// EncodeCursor encodes k as an opaque, URL-safe cursor valid for q's filter
// and order.
func EncodeCursor(k Key, q SearchQuery) string {
	b := make([]byte, 0, 1+8+binary.MaxVarintLen32+1+len(k.BatchID)+cursorTagLen)
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(k.Time))
	b = binary.AppendUvarint(b, uint64(k.Index))
	b = binary.AppendUvarint(b, uint64(len(k.BatchID)))
	b = append(b, k.BatchID...)
	b = append(b, cursorTag(b, q)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor decodes a cursor made by EncodeCursor for a query with the
// same filter and order as q; any other input is an error wrapping
// ErrBadCursor that says what is wrong with it.
func DecodeCursor(c string, q SearchQuery) (Key, error) {
	bad := func(why string) (Key, error) {
		return Key{}, fmt.Errorf("%w: %s; start again from the first page (no cursor)", ErrBadCursor, why)
	}
	if len(c) > MaxCursorLen {
		return bad("too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return bad("not URL-safe base64")
	}
	if len(b) < 1+8+1+1+cursorTagLen || b[0] != cursorVersion {
		return bad("not a cursor of this server version")
	}
	body, tag := b[:len(b)-cursorTagLen], b[len(b)-cursorTagLen:]
	t := int64(binary.BigEndian.Uint64(body[1:9]))
	rest := body[9:]
	idx, n := binary.Uvarint(rest)
	if n <= 0 || idx > maxCursorIndex {
		return bad("malformed position")
	}
	rest = rest[n:]
	idLen, n := binary.Uvarint(rest)
	if n <= 0 || idLen == 0 || idLen > maxCursorBatchID || uint64(len(rest)-n) != idLen {
		return bad("malformed batch id")
	}
	id := string(rest[n:])
	if !utf8.ValidString(id) {
		return bad("malformed batch id")
	}
	want := cursorTag(body, q)
	if !slices.Equal(tag, want) {
		return bad("checksum mismatch (damaged, or issued for another filter or order)")
	}
	if t <= 0 {
		return bad("malformed time")
	}
	return Key{Time: t, BatchID: id, Index: int(idx)}, nil
}

// cursorTag is the tag of cursor bytes body for q's scope.
func cursorTag(body []byte, q SearchQuery) []byte {
	h := sha256.New()
	h.Write([]byte(cursorDomain))
	h.Write(body)
	var scope []byte
	str := func(s string) {
		scope = binary.AppendUvarint(scope, uint64(len(s)))
		scope = append(scope, s...)
	}
	f := q.Filter
	if q.OldestFirst {
		scope = append(scope, 'a')
	} else {
		scope = append(scope, 'd')
	}
	scope = binary.AppendVarint(scope, int64(f.MinSeverity))
	str(f.Text)
	svcs := slices.Clone(f.Services)
	slices.Sort(svcs)
	svcs = slices.Compact(svcs)
	scope = binary.AppendUvarint(scope, uint64(len(svcs)))
	for _, s := range svcs {
		str(s)
	}
	attrs := slices.Clone(f.Attrs)
	slices.SortFunc(attrs, func(a, b AttrMatch) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	attrs = slices.Compact(attrs)
	scope = binary.AppendUvarint(scope, uint64(len(attrs)))
	for _, a := range attrs {
		str(a.Key)
		str(a.Value)
	}
	if f.HasRecordFields() || f.HasResourceFields() {
		// Only then, so cursors of filters without them keep their tag.
		scope = append(scope, 'f')
		for _, s := range []string{string(f.TraceID), string(f.SpanID), f.Logger, f.ErrorType, f.Instance, f.Environment, f.Version} {
			str(s)
		}
	}
	h.Write(scope)
	return h.Sum(nil)[:cursorTagLen]
}
