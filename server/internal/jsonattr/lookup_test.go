package jsonattr

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// typicalRecord is the attributes of a record of the standard workload.
const typicalRecord = `{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","http_method":"POST","http_path":"/api/orders/482913","http_status":201,"duration_ms":12.5,"user_id":77310}`

func TestLookup(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		key  string
		want string
		ok   bool
	}{
		{"string", typicalRecord, "http_method", "POST", true},
		{"int as text", typicalRecord, "http_status", "201", true},
		{"double as text", typicalRecord, "duration_ms", "12.5", true},
		{"last key", typicalRecord, "user_id", "77310", true},
		{"absent", typicalRecord, "nope", "", false},
		{"prefix of key is absent", typicalRecord, "http", "", false},
		{"true", `{"a":true}`, "a", "true", true},
		{"false", `{"a":false}`, "a", "false", true},
		{"null", `{"a":null}`, "a", "null", true},
		{"exponent", `{"a":-1.5E+3}`, "a", "-1.5E+3", true},
		{"empty string", `{"a":""}`, "a", "", true},
		{"empty key", `{"":"v"}`, "", "v", true},
		{"object raw", `{"a": {"b" : [1, 2]} }`, "a", `{"b" : [1, 2]}`, true},
		{"array raw", `{"a":[1,"]",{"c":"}"}]}`, "a", `[1,"]",{"c":"}"}]`, true},
		{"whitespace", " {\n \"a\" :\t\"x\" \n} ", "a", "x", true},
		{"escaped value", `{"a":"line\nnext \"q\" \\ \/ \t\b\f\r"}`, "a", "line\nnext \"q\" \\ / \t\b\f\r", true},
		{"unicode escapes", `{"a":"caf\u00e9 \u4e2d \ud83d\ude00"}`, "a", "café 中 😀", true},
		{"escaped key", `{"caf\u00e9":1,"q\"k":2}`, "café", "1", true},
		{"escaped quote in key", `{"caf\u00e9":1,"q\"k":2}`, `q"k`, "2", true},
		{"raw utf8", `{"ключ":"значение"}`, "ключ", "значение", true},
		{"duplicate first wins", `{"a":1,"a":2}`, "a", "1", true},
		{"skips nested same key", `{"x":{"a":1},"a":2}`, "a", "2", true},
		{"skips string with braces", `{"x":"{\"a\":1}","a":2}`, "a", "2", true},
		// dotted paths
		{"nested path", `{"http":{"status":200}}`, "http.status", "200", true},
		{"deep path", `{"a":{"b":{"c":{"d":"x"}}}}`, "a.b.c.d", "x", true},
		{"path to object", `{"a":{"b":{"c":1}}}`, "a.b", `{"c":1}`, true},
		{"dotted literal key", `{"http.status":200}`, "http.status", "200", true},
		{"literal wins over path", `{"http":{"status":1},"http.status":2}`, "http.status", "2", true},
		{"literal wins when first", `{"http.status":2,"http":{"status":1}}`, "http.status", "2", true},
		{"path through non-object", `{"http":"x"}`, "http.status", "", false},
		{"path through array", `{"http":[{"status":1}]}`, "http.status", "", false},
		{"path absent inner", `{"http":{"code":1}}`, "http.status", "", false},
		{"path first head wins", `{"http":{"x":1},"http":{"status":2}}`, "http.status", "", false},
		{"path inner duplicate first wins", `{"h":{"s":1,"s":2}}`, "h.s", "1", true},
		{"path does not leak into siblings", `{"h":{"x":1},"s":2}`, "h.s", "", false},
		{"nested levels split at every dot", `{"a":{"b.c":1}}`, "a.b.c", "", false},
		{"empty part", `{"a":{"":{"b":1}}}`, "a..b", "1", true},
		{"trailing dot", `{"a":{"":7}}`, "a.", "7", true},
		{"escaped nested key", `{"h\u0074tp":{"st\u0061tus":"ok"}}`, "http.status", "ok", true},
		// not objects
		{"empty doc", ``, "a", "", false},
		{"array doc", `[{"a":1}]`, "a", "", false},
		{"string doc", `"a"`, "a", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := []byte(tt.doc)
			if strings.HasPrefix(tt.doc, "{") || strings.HasPrefix(tt.doc, " {") {
				require.NoError(t, Validate(doc, DefaultLimits), "test document must be valid")
			}
			got, ok := Lookup(doc, tt.key)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.ok, Equal(doc, tt.key, tt.want), "Equal with Lookup's value")
			assert.False(t, Equal(doc, tt.key, tt.want+"x"), "Equal with another value")
			if len(tt.want) > 0 {
				assert.False(t, Equal(doc, tt.key, tt.want[:len(tt.want)-1]), "Equal with a prefix")
			}
		})
	}
}

func TestEqualMatchesStringsAndNumbers(t *testing.T) {
	doc := []byte(`{"a":200,"b":"200","c":"20\u0030","d":2e2}`)
	assert.True(t, Equal(doc, "a", "200"))
	assert.True(t, Equal(doc, "b", "200"))
	assert.True(t, Equal(doc, "c", "200"))
	assert.False(t, Equal(doc, "d", "200"), "numbers compare as text")
	assert.True(t, Equal(doc, "d", "2e2"))
	assert.False(t, Equal(doc, "a", `"200"`))
	assert.True(t, Equal([]byte(`{"s":"\""}`), "s", `"`))
}

func TestEqualDoesNotAllocate(t *testing.T) {
	doc := []byte(`{"http":{"status":200},"msg":"caf\u00e9 \"x\"","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`)
	cases := []struct{ key, want string }{
		{"http.status", "200"},
		{"msg", `café "x"`},
		{"trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"absent", "x"},
	}
	for _, c := range cases {
		allocs := testing.AllocsPerRun(100, func() { Equal(doc, c.key, c.want) })
		assert.Zero(t, allocs, c.key)
	}
}

func TestEach(t *testing.T) {
	doc := []byte(`{"a":1,"b\u0021":"x\ny","c":{"d":[true]},"a":null}`)
	var keys, values []string
	Each(doc, func(k, v string) bool {
		keys = append(keys, k)
		values = append(values, v)
		return true
	})
	assert.Equal(t, []string{"a", "b!", "c", "a"}, keys)
	assert.Equal(t, []string{"1", "x\ny", `{"d":[true]}`, "null"}, values)

	n := 0
	Each(doc, func(string, string) bool { n++; return n < 2 })
	assert.Equal(t, 2, n, "stops when fn returns false")

	for _, d := range []string{``, `[]`, `{}`, `  {  }  `} {
		Each([]byte(d), func(string, string) bool { t.Errorf("fn called for %q", d); return true })
	}
}

func TestReadersTolerateInvalidInput(t *testing.T) {
	docs := []string{`{`, `{"a`, `{"a":`, `{"a":"x`, `{"a":[`, `{"a":{"b":`, `{"a" 1}`, `{"a":1,,}`, `{"\`, `{"a":"\`, `{"a":{"b":"\u12"}}`, `{"a":"\ud83d"}`, "{\"a\":\"\\u00\"}"}
	for _, d := range docs {
		assert.NotPanics(t, func() {
			Lookup([]byte(d), "a")
			Lookup([]byte(d), "a.b")
			Equal([]byte(d), "a.b", "x")
			Each([]byte(d), func(string, string) bool { return true })
		}, d)
	}
	v, ok := Lookup([]byte(`{"a":"\ud83d"}`), "a")
	assert.True(t, ok)
	assert.Equal(t, "\uFFFD", v, "lone surrogates decode to U+FFFD as in encoding/json")
}

func TestEachBytesMatchesEach(t *testing.T) {
	for _, doc := range []string{
		`{"a":"x","b":12,"c":{"d":[1,2]},"e\u0041":"q\"r","f":null,"g":true}`,
		`{}`, ``, `[1]`,
	} {
		var want, got [][2]string
		Each([]byte(doc), func(k, v string) bool { want = append(want, [2]string{k, v}); return true })
		EachBytes([]byte(doc), func(k, v []byte) bool { got = append(got, [2]string{string(k), string(v)}); return true })
		assert.Equal(t, want, got, doc)
	}
	doc := []byte(`{"trace_id":"abc","http_status":201,"x":{"y":1}}`)
	n := 0
	count := func(k, v []byte) bool { n += len(k) + len(v); return true }
	allocs := testing.AllocsPerRun(100, func() { EachBytes(doc, count) })
	assert.Zero(t, allocs)
}
