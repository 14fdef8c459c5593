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
// the server is stopping.
//
// A batch id is an idempotency key: the first push of an id to become
// durable wins. A push of an id acked recently (the last RecentIDs) is
// answered as a duplicate without being published; a push of an id that
// another push is publishing right now waits for that outcome — a duplicate
// if it became durable, published itself if it failed — so of concurrent
// pushes of one id exactly one is answered duplicate=false. The store's own
// batch-id check covers everything older, other replicas and restarts (the
// answer is then duplicate=false, and the store skips the batch). Content is
// not compared.
package ingest
