package jsonattr

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzLimits are small so that the fuzzer reaches every limit.
var fuzzLimits = Limits{MaxBytes: 512, MaxKeys: 6, MaxDepth: 5}

var fuzzSeeds = []string{
	``, `{}`, ` {} `, `[]`, `"x"`, `1`, `null`, `{}{}`, `{"a":1,}`, `{"a" 1}`,
	typicalRecord,
	`{"a":{"b":{"c":[1,[2,{"d":[]}]]}}}`,
	`{"a":[[[[[]]]]]}`,
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7}`,
	`{"n":-0,"m":1e5,"o":-1.5E+3,"p":0.0}`, `{"n":01}`, `{"n":1.}`, `{"n":-}`, `{"n":1e}`,
	`{"s":"\" \\ \/ \b \f \n \r \t \u00e9"}`,
	`{"s":"\ud83d\ude00"}`, `{"s":"\ud83d"}`, `{"s":"\ude00"}`, `{"s":"\u0000"}`, `{"s":"\ud83d\u0041"}`,
	"{\"s\":\"\xc0\xaf\"}", "{\"s\":\"\xed\xa0\x80\"}", "{\"s\":\"\xff\"}", "{\"s\":\"\x01\"}",
	`{"a.b":1,"a":{"b":2}}`, `{"a":true,"b":false,"c":null}`,
	`{"k\u0000":"a\u0000b"}`, `{"n":1e999}`, `{"n":-1.7976931348623157e308}`, `{"n":1.7976931348623159e308}`,
	`{"n":1e-16383}`, `{"n":1.5e-16383}`, `{"n":0e-99999999999999999999}`, `{"n":0e999999999}`, `{"n":0e1000000000}`,
	`{"b":{"$bytes":"AAE="}}`, `{"b":{"$bytes":"AA=A"}}`, `{"b":{"$bytes":"\/w=="}}`, `{"b":{"$bytes":1}}`,
	`{"$bytes":"AAEC","x":1}`, `{"b":{"$bytes":"AA","$bytes":"AA=="}}`, `{"b":{"$bytes":"AA\r\n=="}}`,
}

func FuzzValidate(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		err := Validate(doc, fuzzLimits)
		reasons := expectedReasons(doc, fuzzLimits)
		var se *SyntaxError
		var le *LimitError
		switch {
		case err == nil:
			if len(reasons) > 0 {
				t.Fatalf("Validate(%q) = nil, want an error for %v", doc, reasons)
			}
			if len(doc) > 0 {
				if allocs := testing.AllocsPerRun(1, func() { _ = Validate(doc, fuzzLimits) }); allocs != 0 {
					t.Fatalf("Validate(%q) allocated %v times", doc, allocs)
				}
			}
			return
		case errors.As(err, &se):
			if se.Offset < 0 || se.Offset > len(doc) || se.Msg == "" {
				t.Fatalf("Validate(%q) = %#v: bad offset or message", doc, se)
			}
			if !reasons["syntax"] {
				t.Fatalf("Validate(%q) = %v, want one of %v", doc, err, reasons)
			}
		case errors.As(err, &le):
			if le.Offset < 0 || le.Offset > len(doc) {
				t.Fatalf("Validate(%q) = %#v: bad offset", doc, le)
			}
			if !reasons[le.What] {
				t.Fatalf("Validate(%q) = %v, want one of %v", doc, err, reasons)
			}
		default:
			t.Fatalf("Validate(%q) = %T %v, want *SyntaxError or *LimitError", doc, err, err)
		}
	})
}

// expectedReasons computes, independently of the scanner, why doc should be
// rejected: keys are "syntax" and the LimitError.What values. Validate may
// report any one of them (the first it meets).
func expectedReasons(doc []byte, lim Limits) map[string]bool {
	r := map[string]bool{}
	if len(doc) == 0 {
		return r
	}
	if len(doc) > lim.MaxBytes {
		r["bytes"] = true
		return r // Validate checks the size before anything else
	}
	if !json.Valid(doc) || !utf8.Valid(doc) {
		r["syntax"] = true
		// the scanner may reach a key or depth limit before the syntax error
		r["top-level keys"] = true
		r["nesting depth"] = true
		return r
	}
	if t := bytes.TrimLeft(doc, " \t\r\n"); t[0] != '{' {
		r["syntax"] = true
		return r
	}
	depth, keys := shape(doc)
	if depth > lim.MaxDepth {
		r["nesting depth"] = true
	}
	if keys > lim.MaxKeys {
		r["top-level keys"] = true
	}
	if badEscape(doc) || badValue(doc) {
		r["syntax"] = true
	}
	return r
}

// badValue reports, with encoding/json's tokenizer, whether a valid JSON
// text holds a number a double or PostgreSQL's numeric cannot hold, or a
// "$bytes" key that is not the only key of its object with a standard
// padded base64 string as value.
func badValue(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	type frame struct {
		object, expectKey, hasBytes bool
		keys                        int
	}
	var stack []*frame
	bytesValue := false // the next token is the value of a "$bytes" key
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			panic(err) // doc is valid JSON
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expectKey {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				continue
			}
			top.keys++
			top.expectKey = false
			if tok.(string) == "$bytes" {
				top.hasBytes, bytesValue = true, true
			}
			if top.hasBytes && top.keys > 1 {
				return true
			}
			continue
		}
		if bytesValue {
			bytesValue = false
			s, ok := tok.(string)
			if !ok || strings.ContainsAny(s, "\r\n") {
				return true // the decoder would skip \r and \n
			}
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				return true
			}
		}
		if top != nil && top.object {
			top.expectKey = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, expectKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			continue
		}
		if n, ok := tok.(json.Number); ok && badNumber(string(n)) {
			return true
		}
	}
}

// badNumber reports whether strconv.ParseFloat finds n out of range, n has
// an exponent beyond ±MaxExponent, or more than MaxNumberScale digits after
// the point, exponent applied.
func badNumber(n string) bool {
	if _, err := strconv.ParseFloat(n, 64); err != nil {
		return true
	}
	mant, exp, _ := strings.Cut(strings.ToLower(n), "e")
	_, frac, _ := strings.Cut(mant, ".")
	e := new(big.Int)
	if exp != "" {
		e.SetString(strings.TrimPrefix(exp, "+"), 10)
	}
	if new(big.Int).Abs(e).Cmp(big.NewInt(MaxExponent)) > 0 {
		return true
	}
	scale := new(big.Int).Sub(big.NewInt(int64(len(frac))), e)
	return scale.Cmp(big.NewInt(MaxNumberScale)) > 0
}

// shape returns the maximum nesting depth and the number of top-level keys
// of a valid JSON object, using encoding/json's tokenizer.
func shape(doc []byte) (maxDepth, keys int) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	depth := 0
	expectKey := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return maxDepth, keys
		}
		if err != nil {
			panic(err) // doc is valid JSON
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if depth == 0 {
				expectKey = true
			} else if depth == 1 {
				expectKey = false
			}
			depth++
			maxDepth = max(maxDepth, depth)
			continue
		case json.Delim('}'), json.Delim(']'):
			depth--
			if depth == 1 {
				expectKey = true
			}
			continue
		}
		if depth == 1 {
			if expectKey {
				keys++
			}
			expectKey = !expectKey
		}
	}
}

// badEscape reports whether a valid JSON text has an unpaired surrogate
// escape in a string.
func badEscape(doc []byte) bool {
	inString := false
	for i := 0; i < len(doc); i++ {
		switch c := doc[i]; {
		case c == '"':
			inString = !inString
		case inString && c == '\\':
			i++
			if doc[i] != 'u' {
				continue
			}
			u, _ := strconv.ParseUint(string(doc[i+1:i+5]), 16, 32)
			i += 4
			switch {
			case u >= 0xDC00 && u < 0xE000:
				return true
			case u >= 0xD800 && u < 0xDC00:
				if i+6 >= len(doc) || doc[i+1] != '\\' || doc[i+2] != 'u' {
					return true
				}
				lo, err := strconv.ParseUint(string(doc[i+3:i+7]), 16, 32)
				if err != nil || lo < 0xDC00 || lo >= 0xE000 {
					return true
				}
				i += 6
			}
		}
	}
	return false
}

func FuzzLookup(f *testing.F) {
	keys := []string{"a", "a.b", "http.status", "", "a.", "s", "trace_id", "a.b.c"}
	for i, s := range fuzzSeeds {
		f.Add([]byte(s), keys[i%len(keys)])
	}
	f.Add([]byte(`{"http":{"status":200}}`), "http.status")
	f.Add([]byte(`{"http.status":1,"http":{"status":2}}`), "http.status")
	f.Add([]byte(`{"a":{"":{"b":1}}}`), "a..b")
	f.Add([]byte(`{"caf\u00e9":"\"x\""}`), "café")
	f.Fuzz(func(t *testing.T, doc []byte, key string) {
		got, ok := Lookup(doc, key)
		eq := Equal(doc, key, got)
		Each(doc, func(string, string) bool { return true })
		if Validate(doc, Limits{}) != nil {
			return // only "no panic" is promised
		}
		want, wantOK := refLookup(doc, key)
		if got != want || ok != wantOK {
			t.Fatalf("Lookup(%q, %q) = %q, %v; want %q, %v", doc, key, got, ok, want, wantOK)
		}
		if eq != ok {
			t.Fatalf("Equal(%q, %q, %q) = %v, want %v", doc, key, got, eq, ok)
		}
		if ok && Equal(doc, key, got+"\x00") {
			t.Fatalf("Equal(%q, %q, %q+NUL) = true", doc, key, got)
		}
		var gotKeys, gotVals []string
		Each(doc, func(k, v string) bool {
			gotKeys = append(gotKeys, k)
			gotVals = append(gotVals, v)
			return true
		})
		ms := refMembers(doc)
		if len(ms) != len(gotKeys) {
			t.Fatalf("Each(%q) saw %d members, want %d", doc, len(gotKeys), len(ms))
		}
		for i, m := range ms {
			if gotKeys[i] != m.key || gotVals[i] != refText(m.raw) {
				t.Fatalf("Each(%q) member %d = %q: %q, want %q: %q", doc, i, gotKeys[i], gotVals[i], m.key, refText(m.raw))
			}
		}
	})
}

type refMember struct {
	key string
	raw json.RawMessage
}

// refMembers lists the members of a JSON object in order with encoding/json;
// nil when doc is not an object.
func refMembers(doc []byte) []refMember {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var ms []refMember
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			panic(err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			panic(err)
		}
		ms = append(ms, refMember{key: tok.(string), raw: raw})
	}
	return ms
}

func refText(raw json.RawMessage) string {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			panic(err)
		}
		return s
	}
	return string(raw)
}

func refFirst(doc []byte, key string) (json.RawMessage, bool) {
	for _, m := range refMembers(doc) {
		if m.key == key {
			return m.raw, true
		}
	}
	return nil, false
}

// refLookup is the documented Lookup semantics over encoding/json.
func refLookup(doc []byte, key string) (string, bool) {
	if raw, ok := refFirst(doc, key); ok {
		return refText(raw), true
	}
	parts := strings.Split(key, ".")
	if len(parts) == 1 {
		return "", false
	}
	cur := json.RawMessage(doc)
	for _, p := range parts {
		raw, ok := refFirst(cur, p)
		if !ok {
			return "", false
		}
		cur = raw
	}
	return refText(cur), true
}
