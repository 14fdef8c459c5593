package ingest

import (
	"encoding/binary"
	"errors"
	"io"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sawmill-dev/sawmill/server/internal/validate"
)

// errGroup stops scanBuffers at a group-encoded field, which it does not
// skip; scanRequest, on contiguous bytes, does.
var errGroup = errors.New("group-encoded field")

// maxHeader is the longest tag or length prefix: one varint.
const maxHeader = binary.MaxVarintLen64

// cursor reads a mem.BufferSlice in place, front to back.
type cursor struct {
	cur     []byte // unread part of the current buffer
	rest    []mem.Buffer
	left    int // unread bytes in all
	scratch [maxHeader]byte
}

func newCursor(data mem.BufferSlice) *cursor {
	c := &cursor{rest: data, left: data.Len()}
	c.next()
	return c
}

// next moves to the next non-empty buffer when the current one is read.
func (c *cursor) next() {
	for len(c.cur) == 0 && len(c.rest) > 0 {
		c.cur = c.rest[0].ReadOnlyData()
		c.rest = c.rest[1:]
	}
}

// peek returns up to max unread bytes, at most maxHeader, contiguous
// (copied into scratch when they span two buffers).
func (c *cursor) peek(max int) []byte {
	n := min(max, maxHeader, c.left)
	if len(c.cur) >= n {
		return c.cur[:n]
	}
	out := c.scratch[:0]
	cur, rest := c.cur, c.rest
	for len(out) < n {
		if len(cur) == 0 {
			cur = rest[0].ReadOnlyData()
			rest = rest[1:]
			continue
		}
		k := min(n-len(out), len(cur))
		out = append(out, cur[:k]...)
		cur = cur[k:]
	}
	return out
}

// skip moves n bytes on; n <= c.left.
func (c *cursor) skip(n int) {
	c.left -= n
	for n > 0 {
		k := min(n, len(c.cur))
		c.cur = c.cur[k:]
		n -= k
		c.next()
	}
}

// read copies the next n bytes out; n <= c.left.
func (c *cursor) read(n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		k := min(n-len(out), len(c.cur))
		out = append(out, c.cur[:k]...)
		c.skip(k)
	}
	return out
}

// tag reads a field tag within the next limit bytes; it returns the bytes used.
func (c *cursor) tag(limit int) (protowire.Number, protowire.Type, int, error) {
	num, typ, n := protowire.ConsumeTag(c.peek(limit))
	if n < 0 {
		return 0, 0, 0, protowire.ParseError(n)
	}
	c.skip(n)
	return num, typ, n, nil
}

// length reads a length prefix within the next limit bytes and checks that
// the value it announces fits in them too; it returns the length and the
// bytes of the prefix.
func (c *cursor) length(limit int) (int, int, error) {
	v, n := protowire.ConsumeVarint(c.peek(limit))
	if n < 0 {
		return 0, 0, protowire.ParseError(n)
	}
	if v > uint64(limit-n) {
		return 0, 0, io.ErrUnexpectedEOF
	}
	c.skip(n)
	return int(v), n, nil
}

// skipValue skips the value of a field of type typ within the next limit
// bytes; it returns the bytes skipped.
func (c *cursor) skipValue(typ protowire.Type, limit int) (int, error) {
	switch typ {
	case protowire.VarintType:
		_, n := protowire.ConsumeVarint(c.peek(limit))
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		c.skip(n)
		return n, nil
	case protowire.Fixed32Type, protowire.Fixed64Type:
		n := 4
		if typ == protowire.Fixed64Type {
			n = 8
		}
		if n > limit {
			return 0, io.ErrUnexpectedEOF
		}
		c.skip(n)
		return n, nil
	case protowire.BytesType:
		l, n, err := c.length(limit)
		if err != nil {
			return 0, err
		}
		c.skip(l)
		return n + l, nil
	case protowire.StartGroupType:
		return 0, errGroup
	default: // an end group without its start, or a reserved type
		return 0, protowire.ParseError(protowire.ConsumeFieldValue(1, typ, c.peek(limit)))
	}
}

// scanBuffers is scanRequest on the received buffers, without copying
// them; it gives up with errGroup on a group-encoded field.
func scanBuffers(data mem.BufferSlice) (wireBatch, error) {
	var w wireBatch
	c := newCursor(data)
	for c.left > 0 {
		num, typ, _, err := c.tag(c.left)
		if err != nil {
			return w, err
		}
		if num != 1 || typ != protowire.BytesType {
			if _, err := c.skipValue(typ, c.left); err != nil {
				return w, err
			}
			continue
		}
		l, _, err := c.length(c.left)
		if err != nil {
			return w, err
		}
		w.size += l
		if err := w.scanBatchBuffers(c, l); err != nil {
			return w, err
		}
	}
	return w, nil
}

// scanBatchBuffers scans the next left bytes of c, one LogBatch.
func (w *wireBatch) scanBatchBuffers(c *cursor, left int) error {
	for left > 0 {
		num, typ, n, err := c.tag(left)
		if err != nil {
			return err
		}
		left -= n
		if typ == protowire.BytesType && (num == 1 || num == 3) {
			l, n, err := c.length(left)
			if err != nil {
				return err
			}
			left -= n + l
			switch {
			case num == 3:
				w.records++
				c.skip(l)
			case l > 0 && l <= validate.MaxBatchIDBytes:
				w.id = string(c.read(l))
			default:
				w.id = ""
				c.skip(l)
			}
			continue
		}
		n, err = c.skipValue(typ, left)
		if err != nil {
			return err
		}
		left -= n
	}
	return nil
}
