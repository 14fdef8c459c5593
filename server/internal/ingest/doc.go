// Package ingest is the gRPC IngestService: it validates each batch whole
// (accepted whole or rejected whole, with every broken rule named), fills
// defaults, and hands it to a pipeline.Publisher. It answers a client only
// after the Publisher made the batch durable, and never imports a concrete
// queue or store.
//
// Error mapping (the client's retry policy depends on it):
// InvalidArgument with google.rpc.BadRequest details for a batch that breaks
// a rule; ResourceExhausted with google.rpc.RetryInfo when the queue is full
// or too many bytes are in flight; Unavailable when a dependency is away or
// the server is stopping; InvalidArgument without details when the
// Publisher stored nothing because the store refuses the batch's data for
// good (a pipeline.Permanent error: only without a broker, where there is no
// dead-letter queue). A batch id acked recently is answered again as a
// duplicate without being published twice; the store's own batch-id check
// covers everything older.
package ingest
