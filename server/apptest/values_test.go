package apptest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
)

// Issue 11 through the real binary in production mode (RabbitMQ and
// PostgreSQL): a record with a NUL in its body and in an attribute (what
// zap.String("k", "a\x00b") sends) is accepted, stored, found and read back
// as JSON every client can decode, and the 24,000 records of an unrelated
// service next to it are all stored. A number beyond a double and a bad
// $bytes value are rejected with the field named. Not a fault test: it
// stops nothing.
func TestProductionNULAndEdgeValues(t *testing.T) {
	args, _, dbURL := prodBackends(t)
	s := Start(t, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ingest := sawmillv1.NewIngestServiceClient(s.Conn(t))
	now := time.Now().Add(-time.Minute)

	for i := 0; i < 24; i++ {
		b := Batch("unrelated", 1000, now.Add(time.Duration(i)*time.Millisecond))
		b.BatchId = fmt.Sprintf("ev-unrelated-%02d", i)
		_, err := Push(ctx, ingest, b)
		require.NoError(t, err)
		if i == 12 {
			o := Batch("orders", 1000, now)
			o.BatchId = "ev-orders"
			r := o.Records[500]
			r.Body, r.Logger = "a\x00b", "l\x00"
			r.AttributesJson = []byte(`{"k":"a\u0000b","n":1}`)
			_, err := Push(ctx, ingest, o)
			require.NoError(t, err, "NUL is data")
		}
	}
	stored, distinct := waitStored(t, dbURL, "ev-", 25000, 90*time.Second)
	require.Equal(t, int64(25000), stored)
	require.Equal(t, int64(25000), distinct)

	// Found by the text and the attribute as logged; read back as U+FFFD.
	var p pageJSON
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/logs", url.Values{"service": {"orders"}, "attr": {"k:a\x00b"}}, &p))
	require.Len(t, p.Logs, 1)
	assert.Equal(t, "a\uFFFDb", p.Logs[0].Body)
	var attrs map[string]any
	require.NoError(t, json.Unmarshal(p.Logs[0].Attributes, &attrs))
	assert.Equal(t, "a\uFFFDb", attrs["k"])
	assert.Equal(t, uint64(1), s.Count(t, url.Values{"service": {"orders"}, "q": {"a\x00b"}}))

	// Every page of the service decodes with encoding/json.
	q := url.Values{"service": {"orders"}, "limit": {"1000"}}
	var all pageJSON
	require.Equal(t, http.StatusOK, s.Get(t, "/api/v1/logs", q, &all))
	require.Len(t, all.Logs, 1000)
	for _, e := range all.Logs {
		var v map[string]any
		require.NoError(t, json.Unmarshal(e.Attributes, &v), "%s", e.Attributes)
	}

	for name, doc := range map[string]string{
		"number beyond a double": `{"x":1e999}`,
		"negative beyond":        `{"x":-1e999}`,
		"bytes not base64":       `{"b":{"$bytes":"not base64"}}`,
	} {
		b := Batch("orders", 3, now)
		b.Records[1].AttributesJson = []byte(doc)
		_, err := Push(ctx, ingest, b)
		st := status.Convert(err)
		require.Equal(t, codes.InvalidArgument, st.Code(), name)
		var fields []string
		for _, d := range st.Details() {
			if br, ok := d.(*errdetails.BadRequest); ok {
				for _, v := range br.GetFieldViolations() {
					fields = append(fields, v.GetField())
				}
			}
		}
		assert.Equal(t, []string{"batch.records[1].attributes_json"}, fields, name)
	}
}
