package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres"
	"github.com/sawmill-dev/sawmill/server/internal/store/postgres/pgtest"
	"github.com/sawmill-dev/sawmill/server/internal/store/storetest"
)

func nulBatch(id string) *sawmillv1.LogBatch {
	return &sawmillv1.LogBatch{
		BatchId:  id,
		Resource: &sawmillv1.Resource{Service: "nul", Instance: "i\x00", AttributesJson: []byte(`{"r":"\u0000"}`)},
		Records: []*sawmillv1.LogRecord{{
			TimeUnixNano:   uint64(storetest.Base.UnixNano()),
			SeverityNumber: 9,
			SeverityText:   "info\x00",
			Body:           "a\x00b",
			AttributesJson: []byte(`{"k":"a\u0000b","k\u0000":1,"esc":"\\u0000"}`),
			Logger:         "l\x00",
			Error:          &sawmillv1.ErrorInfo{Type: "t\x00", Message: "m\x00", Stack: "s\x00"},
		}},
	}
}

// A NUL in the body, or the escape \u0000 in the attributes, is stored (as
// U+FFFD, which PostgreSQL's text and jsonb can hold): before, COPY failed
// with "invalid byte sequence for encoding UTF8: 0x00" on every retry, and
// an attribute filter failed for every query over such a record.
func TestNULIsStoredAsReplacement(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.NewDatabase(t), postgres.Options{TimescaleDB: postgres.TimescaleOff})
	require.NoError(t, err)
	defer s.Close()
	n, err := s.WriteBatches(ctx, []*sawmillv1.LogBatch{nulBatch("nul-1")})
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	p, err := s.Search(ctx, store.SearchQuery{})
	require.NoError(t, err)
	require.Len(t, p.Entries, 1)
	r := p.Entries[0].GetRecord()
	assert.Equal(t, "a\uFFFDb", r.GetBody())
	assert.JSONEq(t, `{"k":"a\ufffdb","k\ufffd":1,"esc":"\\u0000"}`, string(r.GetAttributesJson()))
	// Fields kept in protobuf columns are exact.
	assert.Equal(t, "info\x00", r.GetSeverityText())
	assert.Equal(t, "l\x00", r.GetLogger())
	assert.Equal(t, "m\x00", r.GetError().GetMessage())
	assert.Equal(t, "i\x00", p.Entries[0].GetResource().GetInstance())

	for name, f := range map[string]store.Filter{
		"attr with NUL":         {Attrs: []store.AttrMatch{{Key: "k", Value: "a\x00b"}}},
		"attr as stored":        {Attrs: []store.AttrMatch{{Key: "k", Value: "a\uFFFDb"}}},
		"key with NUL":          {Attrs: []store.AttrMatch{{Key: "k\x00", Value: "1"}}},
		"escaped backslash":     {Attrs: []store.AttrMatch{{Key: "esc", Value: `\u0000`}}},
		"text with NUL":         {Text: "A\x00B"},
		"service with NUL":      {Services: []string{"nul", "x\x00"}},
		"text and attr at once": {Text: "a\uFFFD", Attrs: []store.AttrMatch{{Key: "k", Value: "a\x00b"}}},
	} {
		c, err := s.Count(ctx, f)
		require.NoError(t, err, name)
		assert.Equal(t, uint64(1), c, name)
	}
}

// A write PostgreSQL refuses for the data of a batch (SQLSTATE class 22
// here, raised by a trigger for one body) is marked store.ErrUnstorable, so
// the queue dead-letters that batch alone; an unreachable database is not.
func TestUnstorableDataIsPermanent(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s, err := postgres.Open(ctx, url, postgres.Options{TimescaleDB: postgres.TimescaleOff})
	require.NoError(t, err)
	defer s.Close()
	pgtest.Poison(t, url, "poison")

	good, bad := nulBatch("good"), nulBatch("bad")
	bad.Records[0].Body = "poison"
	_, err = s.WriteBatches(ctx, []*sawmillv1.LogBatch{good, bad})
	require.Error(t, err)
	assert.ErrorIs(t, err, store.ErrUnstorable)
	assert.ErrorContains(t, err, "SQLSTATE 22023")
	n, err := s.WriteBatches(ctx, []*sawmillv1.LogBatch{good})
	require.NoError(t, err, "the transaction of the failed write was rolled back")
	assert.Equal(t, 1, n)

	s.Close()
	_, err = s.WriteBatches(ctx, []*sawmillv1.LogBatch{nulBatch("later")})
	require.Error(t, err)
	assert.False(t, errors.Is(err, store.ErrUnstorable), "a closed pool is not the data's fault: %v", err)
}

func TestPermanentCodes(t *testing.T) {
	for code, want := range map[string]bool{
		"22021": true,  // character_not_in_repertoire: invalid byte sequence
		"22P05": true,  // untranslatable_character: \u0000 in jsonb
		"22001": true,  // string_data_right_truncation
		"22003": true,  // numeric_value_out_of_range
		"54000": true,  // program_limit_exceeded: index row too large
		"23502": true,  // not_null_violation
		"23514": false, // check_violation: no partition for a row (dropped by retention; recreated on retry)
		"08006": false, // connection_failure
		"53100": false, // disk_full
		"53300": false, // too_many_connections
		"57P01": false, // admin_shutdown
		"40001": false, // serialization_failure
		"40P01": false, // deadlock_detected
		"55P03": false, // lock_not_available
		"42P01": false, // undefined_table: a schema problem, not the batch's
		"XX000": false,
		"":      false,
	} {
		assert.Equal(t, want, postgres.PermanentCode(code), code)
	}
}
