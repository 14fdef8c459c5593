// Package jsonattr checks and reads the attributes of a Sawmill log record:
// one JSON object per record, carried as bytes (LogRecord.attributes_json).
//
// Guarantees:
//   - Validate accepts exactly the empty document (no attributes) and
//     RFC 8259 JSON objects (surrounding whitespace allowed) that fit the
//     Limits, whose strings are valid UTF-8 without raw control characters,
//     and that keep the value rules below. Every error names what is wrong
//     and the byte offset (*SyntaxError or *LimitError).
//   - Validate makes one pass over the document and does not allocate on
//     valid input; recursion is bounded by the depth limit (and by HardMaxDepth
//     when the limit is off), so hostile input cannot exhaust the stack.
//   - Lookup, Equal and Each read a validated document without building a
//     tree; they never panic, whatever the input, and report "absent" for a
//     document that is not an object. Equal does not allocate.
//
// Value rules. The escape \u0000 is accepted: it is valid JSON, and a store
// that cannot hold NUL normalises it (PostgreSQL reads it back as U+FFFD;
// see package postgres). On top of RFC 8259, Validate rejects what some
// reader of a stored page could not hold:
//   - unpaired UTF-16 surrogate escapes (\ud800 alone);
//   - a number whose magnitude rounds beyond the range of a double (1e999,
//     -1e999, 2e308): JSON has no Infinity, encoding/json fails on it and
//     JavaScript reads Infinity. Non-finite values travel as the strings
//     "NaN", "+Inf", "-Inf" (log.proto), like the literals NaN and Infinity,
//     which are not JSON and are rejected too;
//   - a number with more than MaxNumberScale (16383) digits after the
//     decimal point once its exponent is applied (1e-16384): PostgreSQL's
//     numeric, which attribute filters use, cannot hold it; so is one
//     written with an exponent beyond ±MaxExponent (999999999; 0e1000000000);
//   - an object with the key "$bytes" (a bytes value, at any depth) that has
//     another key, or whose value is not a string of standard base64 with
//     padding (RFC 4648 section 4: A-Z a-z 0-9 + / and '=', no line breaks;
//     what Go's base64.StdEncoding and Node's Buffer write). Other keys
//     starting with "$" are not checked.
//
// Key paths: Lookup(doc, "http.status") returns the top-level key
// "http.status" when the document has one, otherwise it walks the nested
// objects "http" then "status". Duplicate keys are allowed; the first wins.
package jsonattr
