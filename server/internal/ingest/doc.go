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
// dead-letter queue).
//
// Memory: register the Service with Register on a gRPC server built with
// grpc.ForceServerCodecV2(Codec()). Push and PushStream requests then reach
// it undecoded; a scan of the received buffers, in place and without
// allocating, counts the batch's records and bytes, and a batch over
// Limits.MaxRecords or Limits.MaxBatchBytes is answered InvalidArgument
// (BadRequest naming batch.records or batch) without being decoded, so a
// refused request costs its received bytes and nothing more. A batch within
// the limits is decoded only once its BatchCost (CostPerByte x encoded size
// + CostPerRecord per record, which covers the decoded batch and its copy
// for the queue) fits in Options.MaxInflightSize with the other batches
// being decoded, validated and published; otherwise it is answered
// ResourceExhausted with a retry delay. A request that is not protobuf is
// InvalidArgument.
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
