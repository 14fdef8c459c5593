// Package sawmill is the Go client of Sawmill, a central log server: it
// batches log records in the background and sends them over gRPC, so that
// logging never slows the service down. Most services use it through an
// adapter: sawmillzap (a zapcore.Core) or sawmillslog (a slog.Handler).
//
//	client, err := sawmill.New(ctx, sawmill.Config{
//		Endpoint: "sawmill:7070",
//		Resource: sawmill.Resource{Service: "orders"},
//	})
//	if err != nil { ... }
//	defer client.Close(ctx) // flushes: nothing the server can accept is lost
//
// What it guarantees:
//   - A log call (Client.Log, and the adapters built on it) only encodes
//     the record into pooled memory and appends it to a bounded buffer; it
//     never panics, never starts a goroutine, and never blocks longer than
//     the full-buffer policy allows (DropNewest and DropOldest: not at all;
//     Block: Config.BlockTimeout).
//   - Memory is bounded by Config.BufferBytes; what a full buffer drops is
//     counted (Stats) and reported to Config.OnError, never silent.
//   - Records go out in batches (1000 records / 1 MiB / 200ms by default)
//     with at most Config.MaxInFlight batches unacknowledged. A batch that
//     fails with Unavailable, ResourceExhausted (honouring the server's
//     RetryInfo), DeadlineExceeded or a broken connection is retried with
//     exponential backoff and jitter under the same batch id, so the
//     server stores it once; a batch the server rejects for good
//     (InvalidArgument, Unauthenticated, ...) is dropped, counted and
//     reported instead of being retried forever.
//   - Every record satisfies the wire contract (log.proto) as written
//     before it is sent, so no v1 server rejects a batch for one record:
//     attributes follow its JSON type rules and limits (keys starting with
//     "$" get a "_" prefix),
//     strings are valid UTF-8, oversized values are cut and end with
//     TruncationMarker, and times the server would refuse (before 2000,
//     more than 24 hours ahead, beyond 2262) are sent as 0 so that the
//     server stores the observed time.
//   - Errors given to Config.OnError wrap a *StatusError: status.Code,
//     status.FromError and errors.Is(err, context.DeadlineExceeded) work on
//     them.
//   - Flush returns once everything logged before it is acknowledged
//     (durable on the server) or its context ends; Close flushes, then
//     releases the connection and every goroutine, within its context.
package sawmill
