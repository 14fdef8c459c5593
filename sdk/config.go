package sawmill

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"
)

// FullPolicy says what a log call does when the client's buffer is full
// (the server is slower than the service, or away).
type FullPolicy int

const (
	// DropNewest drops the record being logged; the log call never waits.
	// This is the default: a logging pipeline must not slow the service down.
	DropNewest FullPolicy = iota
	// DropOldest discards the oldest whole batch waiting to be sent to make
	// room, so the newest records win; when no batch is waiting (all are in
	// flight) the new record is dropped instead.
	DropOldest
	// Block makes the log call wait up to Config.BlockTimeout for room, then
	// drop the record.
	Block
)

func (p FullPolicy) String() string {
	switch p {
	case DropNewest:
		return "drop-newest"
	case DropOldest:
		return "drop-oldest"
	case Block:
		return "block"
	}
	return fmt.Sprintf("FullPolicy(%d)", int(p))
}

// Compression of the gRPC messages.
type Compression int

const (
	// NoCompression sends batches as they are (the default: on loopback and
	// fast links compression costs more CPU than it saves).
	NoCompression Compression = iota
	// Gzip compresses every batch with gzip (grpc-encoding: gzip); worth it
	// on slow or metered links, attributes compress ~5-10x.
	Gzip
)

// Transport selects the ingest RPC.
type Transport int

const (
	// TransportAuto uses the transport measured fastest (see DefaultTransport).
	TransportAuto Transport = iota
	// TransportStream sends batches on one long-lived PushStream.
	TransportStream
	// TransportUnary sends each batch with its own Push call.
	TransportUnary
)

func (t Transport) String() string {
	switch t {
	case TransportAuto:
		return "auto"
	case TransportStream:
		return "stream"
	case TransportUnary:
		return "unary"
	}
	return fmt.Sprintf("Transport(%d)", int(t))
}

// DefaultTransport is what TransportAuto means. Measured with
// BenchmarkTransport (sawmill_bench_test.go) against the real server on
// loopback, 1000-record batches of the standard workload, 2 shared cores:
// see README.md "Measured". Unary Push won by a small margin and is also
// simpler to recover after a server restart, so it is the default.
const DefaultTransport = TransportUnary

// Defaults applied by New for zero Config fields.
const (
	DefaultMaxBatchRecords = 1000
	DefaultMaxBatchBytes   = 1 << 20
	DefaultFlushInterval   = 200 * time.Millisecond
	DefaultBufferBytes     = 64 << 20
	DefaultBlockTimeout    = 100 * time.Millisecond
	DefaultMaxInFlight     = 4
	DefaultRequestTimeout  = 10 * time.Second
	DefaultRetryInitial    = 100 * time.Millisecond
	DefaultRetryMax        = 5 * time.Second
)

// Hard limits of the wire contract the configuration must respect.
const (
	maxBatchRecordsLimit = 10000   // log.proto: 1 to 10,000 records
	maxBatchBytesLimit   = 4 << 20 // half of the 8 MiB batch limit: one oversized record still fits
)

// Resource describes the service that logs. Service is required.
type Resource struct {
	Service     string // 1-128 bytes, no control characters
	Instance    string // host or instance name, e.g. "orders-1"
	Environment string // e.g. "production"
	Version     string // e.g. "1.4.2"
	// Attributes are free resource attributes, encoded once like record
	// attributes (any Go value; see Attrs.Any).
	Attributes map[string]any
}

// Config configures a Client. Only Endpoint and Resource.Service are
// required; every zero field takes the default named next to it.
type Config struct {
	// Endpoint is the server's gRPC address, "host:port".
	Endpoint string
	// Resource names the service; sent once per batch.
	Resource Resource

	// TLS enables TLS with this configuration; nil means plaintext.
	TLS *tls.Config
	// Token, when set, is sent as "authorization: Bearer <Token>" on every
	// call. Without TLS it travels in clear: use it on trusted networks only.
	Token string

	// MaxBatchRecords seals a batch at this many records (default 1000, at
	// most 10,000).
	MaxBatchRecords int
	// MaxBatchBytes seals a batch before its records pass this many encoded
	// bytes (default 1 MiB, at most 4 MiB).
	MaxBatchBytes int
	// FlushInterval seals a non-empty batch this long after its first
	// record (default 200ms), bounding how stale a quiet service's logs get.
	FlushInterval time.Duration
	// BufferBytes bounds the encoded records held in memory: being filled,
	// waiting, in flight or retrying (default 64 MiB). When it is reached
	// FullPolicy decides.
	BufferBytes int
	// FullPolicy is what a log call does when the buffer is full (default
	// DropNewest).
	FullPolicy FullPolicy
	// BlockTimeout is the longest a log call waits under the Block policy
	// (default 100ms).
	BlockTimeout time.Duration
	// Compression of batches on the wire (default none).
	Compression Compression
	// MaxInFlight is the most batches sent and not yet acknowledged at once
	// (default 4).
	MaxInFlight int
	// RequestTimeout bounds one attempt to send a batch (default 10s); a
	// timed-out attempt is retried.
	RequestTimeout time.Duration
	// RetryInitial and RetryMax bound the exponential backoff between
	// attempts (defaults 100ms and 5s, with jitter). A server's RetryInfo
	// hint is honoured when it asks for longer. Retryable failures
	// (Unavailable, ResourceExhausted, DeadlineExceeded, Aborted, and
	// connection errors) are retried until Close gives up; others
	// (InvalidArgument, Unauthenticated, ...) drop the batch.
	RetryInitial, RetryMax time.Duration
	// Transport selects streaming or unary pushes (default TransportAuto).
	Transport Transport
	// OnError, when set, is told about records dropped or rejected and about
	// failed attempts (see DropError and SendError). It is called from the
	// client's background goroutines, never from a log call, so it may log
	// through the same logger; it must not block for long.
	OnError func(error)
	// DialOptions are appended to the client's own gRPC dial options.
	DialOptions []grpc.DialOption
}

func (c Config) withDefaults() Config {
	setDefault(&c.MaxBatchRecords, DefaultMaxBatchRecords)
	setDefault(&c.MaxBatchBytes, DefaultMaxBatchBytes)
	setDefault(&c.FlushInterval, DefaultFlushInterval)
	setDefault(&c.BufferBytes, DefaultBufferBytes)
	setDefault(&c.BlockTimeout, DefaultBlockTimeout)
	setDefault(&c.MaxInFlight, DefaultMaxInFlight)
	setDefault(&c.RequestTimeout, DefaultRequestTimeout)
	setDefault(&c.RetryInitial, DefaultRetryInitial)
	setDefault(&c.RetryMax, DefaultRetryMax)
	if c.Transport == TransportAuto {
		c.Transport = DefaultTransport
	}
	return c
}

func setDefault[T int | time.Duration](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}

// ErrConfig is wrapped by every configuration error New returns.
var ErrConfig = errors.New("sawmill: invalid config")

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if c.Endpoint == "" {
		return bad("Endpoint is empty (want host:port)")
	}
	s := c.Resource.Service
	if s == "" || len(s) > 128 || !utf8.ValidString(s) || hasControl(s) {
		return bad("Resource.Service %q must be 1-128 bytes of UTF-8 without control characters", s)
	}
	for name, v := range map[string]string{"Instance": c.Resource.Instance, "Environment": c.Resource.Environment, "Version": c.Resource.Version} {
		if len(v) > maxResourceField || !utf8.ValidString(v) || hasControl(v) {
			return bad("Resource.%s %q must be at most %d bytes of UTF-8 without control characters", name, v, maxResourceField)
		}
	}
	switch {
	case c.MaxBatchRecords < 1 || c.MaxBatchRecords > maxBatchRecordsLimit:
		return bad("MaxBatchRecords %d not in 1..%d", c.MaxBatchRecords, maxBatchRecordsLimit)
	case c.MaxBatchBytes < 1024 || c.MaxBatchBytes > maxBatchBytesLimit:
		return bad("MaxBatchBytes %d not in 1024..%d", c.MaxBatchBytes, maxBatchBytesLimit)
	case c.BufferBytes < c.MaxBatchBytes:
		return bad("BufferBytes %d smaller than MaxBatchBytes %d", c.BufferBytes, c.MaxBatchBytes)
	case c.FlushInterval < time.Millisecond:
		return bad("FlushInterval %v below 1ms", c.FlushInterval)
	case c.MaxInFlight < 1 || c.MaxInFlight > 64:
		return bad("MaxInFlight %d not in 1..64", c.MaxInFlight)
	case c.FullPolicy < DropNewest || c.FullPolicy > Block:
		return bad("unknown FullPolicy %d", int(c.FullPolicy))
	case c.Compression < NoCompression || c.Compression > Gzip:
		return bad("unknown Compression %d", int(c.Compression))
	case c.Transport < TransportAuto || c.Transport > TransportUnary:
		return bad("unknown Transport %d", int(c.Transport))
	case c.RequestTimeout < 0 || c.RetryInitial < 0 || c.RetryMax < c.RetryInitial || c.BlockTimeout < 0:
		return bad("negative timeout or RetryMax %v below RetryInitial %v", c.RetryMax, c.RetryInitial)
	}
	return nil
}

// maxResourceField bounds Instance, Environment and Version.
const maxResourceField = 256

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}
