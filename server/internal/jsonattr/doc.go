// Package jsonattr checks and reads the attributes of a Sawmill log record:
// one JSON object per record, carried as bytes (LogRecord.attributes_json).
//
// Guarantees:
//   - Validate accepts exactly the empty document (no attributes) and
//     RFC 8259 JSON objects (surrounding whitespace allowed) that fit the
//     Limits, whose strings are valid UTF-8 without raw control characters.
//     On top of RFC 8259 it rejects the escape \u0000 and unpaired UTF-16
//     surrogate escapes (\ud800 alone): PostgreSQL's jsonb refuses both, and a
//     document Sawmill acknowledged must be storable as is. Every error names
//     what is wrong and the byte offset (*SyntaxError or *LimitError).
//   - Validate makes one pass over the document and does not allocate on
//     valid input; recursion is bounded by the depth limit (and by HardMaxDepth
//     when the limit is off), so hostile input cannot exhaust the stack.
//   - Lookup, Equal and Each read a validated document without building a
//     tree; they never panic, whatever the input, and report "absent" for a
//     document that is not an object. Equal does not allocate.
//
// Key paths: Lookup(doc, "http.status") returns the top-level key
// "http.status" when the document has one, otherwise it walks the nested
// objects "http" then "status". Duplicate keys are allowed; the first wins.
package jsonattr
