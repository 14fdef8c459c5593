package query

import (
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	sawmillv1 "github.com/sawmill-dev/sawmill/proto/gen/go/sawmill/v1"
	"github.com/sawmill-dev/sawmill/server/internal/store"
)

// Entry is the JSON form of a log entry in the HTTP API.
type Entry struct {
	ID                 string          `json:"id"`
	Service            string          `json:"service"`
	Instance           string          `json:"instance,omitempty"`
	Environment        string          `json:"environment,omitempty"`
	Version            string          `json:"version,omitempty"`
	ResourceAttributes json.RawMessage `json:"resource_attributes,omitempty"`
	Time               string          `json:"time"`
	TimeUnixNano       string          `json:"time_unix_nano"`
	ObservedTime       string          `json:"observed_time,omitempty"`
	SeverityNumber     int32           `json:"severity_number"`
	SeverityText       string          `json:"severity_text,omitempty"`
	Level              string          `json:"level"`
	Body               string          `json:"body"`
	Attributes         json.RawMessage `json:"attributes,omitempty"`
	TraceID            string          `json:"trace_id,omitempty"`
	SpanID             string          `json:"span_id,omitempty"`
	Logger             string          `json:"logger,omitempty"`
	Source             *Source         `json:"source,omitempty"`
	Error              *ErrorInfo      `json:"error,omitempty"`
}

// Source is where a record was logged.
type Source struct {
	File     string `json:"file,omitempty"`
	Line     int32  `json:"line,omitempty"`
	Function string `json:"function,omitempty"`
}

// ErrorInfo is an error attached to a record.
type ErrorInfo struct {
	Type    string `json:"type,omitempty"`
	Message string `json:"message,omitempty"`
	Stack   string `json:"stack,omitempty"`
}

func rfc3339(ns uint64) string {
	return time.Unix(0, int64(ns)).UTC().Format(time.RFC3339Nano)
}

// rawObject returns doc as JSON, or nil when empty. Documents were
// validated as JSON objects on ingest.
func rawObject(doc []byte) json.RawMessage {
	if len(doc) == 0 {
		return nil
	}
	return json.RawMessage(doc)
}

// ToEntry converts a stored entry to its JSON form.
func ToEntry(e *sawmillv1.LogEntry) Entry {
	r, res := e.GetRecord(), e.GetResource()
	out := Entry{
		ID:                 e.GetId(),
		Service:            res.GetService(),
		Instance:           res.GetInstance(),
		Environment:        res.GetEnvironment(),
		Version:            res.GetVersion(),
		ResourceAttributes: rawObject(res.GetAttributesJson()),
		Time:               rfc3339(r.GetTimeUnixNano()),
		TimeUnixNano:       strconv.FormatUint(r.GetTimeUnixNano(), 10),
		SeverityNumber:     int32(r.GetSeverityNumber()),
		SeverityText:       r.GetSeverityText(),
		Level:              store.LevelName(int32(r.GetSeverityNumber())),
		Body:               r.GetBody(),
		Attributes:         rawObject(r.GetAttributesJson()),
		Logger:             r.GetLogger(),
	}
	if r.GetObservedTimeUnixNano() != 0 {
		out.ObservedTime = rfc3339(r.GetObservedTimeUnixNano())
	}
	if len(r.GetTraceId()) > 0 {
		out.TraceID = hex.EncodeToString(r.GetTraceId())
	}
	if len(r.GetSpanId()) > 0 {
		out.SpanID = hex.EncodeToString(r.GetSpanId())
	}
	if s := r.GetSource(); s != nil && (s.GetFile() != "" || s.GetFunction() != "" || s.GetLine() != 0) {
		out.Source = &Source{File: s.GetFile(), Line: s.GetLine(), Function: s.GetFunction()}
	}
	if e := r.GetError(); e != nil && (e.GetType() != "" || e.GetMessage() != "" || e.GetStack() != "") {
		out.Error = &ErrorInfo{Type: e.GetType(), Message: e.GetMessage(), Stack: e.GetStack()}
	}
	return out
}

// ToEntries converts a list.
func ToEntries(es []*sawmillv1.LogEntry) []Entry {
	out := make([]Entry, len(es))
	for i, e := range es {
		out[i] = ToEntry(e)
	}
	return out
}
