// Package validate checks a v1 LogBatch against the rules of the wire
// contract (proto/sawmill/v1/log.proto) before ingest accepts it, and fills
// the defaults of an accepted batch.
//
// Guarantees:
//   - Batch lists every rule a batch breaks, each as a Violation naming the
//     field ("batch.records[3].attributes_json") and what is wrong, up to
//     Limits.MaxViolations entries plus one that counts the rest. It never
//     panics, whatever the batch holds, and does not allocate for a valid
//     batch.
//   - Normalize only fills zero fields (times, severity) and keeps a valid
//     batch valid.
//
// Rules beyond log.proto's comments: source.line must not be negative, and
// attributes follow jsonattr.Validate (its value rules: numbers a double and
// PostgreSQL's numeric can hold, "$bytes" markers with padded standard
// base64, no unpaired surrogate escapes). NUL is data: accepted in every
// string field and as the escape \u0000 in attributes (a store that cannot
// hold it normalises it).
package validate
