// Package batch holds encoded log records between the log call and the
// sender: a bounded buffer that groups records into batches sealed by size
// (records or bytes) or age, hands them to a bounded number of senders,
// and tracks completion so a flush can wait for what came before it.
//
// Guarantees: the bytes held never exceed Config.LimitBytes except for a
// single record larger than the limit taken into an empty buffer; Append
// never blocks longer than Config.BlockTimeout (and not at all under the
// drop policies); a batch is returned by Next at most once and stays
// counted until Done; WaitDone(ctx, Seal()) returns once everything
// appended before Seal is done (sent or dropped). Backoff computes
// exponential delays with jitter that never undercut a server's hint.
package batch
