package sawmill

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sawmill-dev/sawmill/sdk/internal/wirecheck"
)

// decode parses an attributes document keeping numbers as json.Number.
func decode(t testing.TB, doc []byte) map[string]any {
	t.Helper()
	require.True(t, utf8.Valid(doc), "invalid UTF-8: %q", doc)
	require.True(t, json.Valid(doc), "invalid JSON: %s", doc)
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m))
	return m
}

// checkLimits asserts the document respects log.proto's rules and limits,
// as every v1 server checks them.
func checkLimits(t testing.TB, doc []byte) {
	t.Helper()
	if len(doc) == 0 {
		return
	}
	require.NoError(t, wirecheck.Attrs(doc), "%.200s", doc)
	require.LessOrEqual(t, len(doc), MaxAttributesBytes)
	m := decode(t, doc)
	require.LessOrEqual(t, len(m), MaxAttributesKeys)
	depth, maxDepth := 0, 0
	dec := json.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
				maxDepth = max(maxDepth, depth)
			} else {
				depth--
			}
		}
	}
	require.LessOrEqual(t, maxDepth, MaxAttributesDepth)
}

func TestAttrsScalars(t *testing.T) {
	var a Attrs
	ts := time.Date(2026, 11, 23, 4, 5, 6, 123456789, time.UTC)
	a.Key("s")
	a.String("héllo \"q\" \\ \n\t\x01 \u2028")
	a.Key("i")
	a.Int(-42)
	a.Key("u")
	a.Uint(math.MaxUint64)
	a.Key("f")
	a.Float(42)
	a.Key("f2")
	a.Float(1e-9)
	a.Key("f3")
	a.Float(1.5e300)
	a.Key("f32")
	a.Float32(0.1)
	a.Key("nan")
	a.Float(math.NaN())
	a.Key("pinf")
	a.Float(math.Inf(1))
	a.Key("ninf")
	a.Float(math.Inf(-1))
	a.Key("b")
	a.Bool(true)
	a.Key("n")
	a.Null()
	a.Key("bin")
	a.Binary([]byte{0, 1, 2})
	a.Key("t")
	a.Time(ts)
	a.Key("d")
	a.Duration(1500 * time.Millisecond)
	a.Key("bad")
	a.String("a\xffb")
	doc := a.Bytes()
	checkLimits(t, doc)
	assert.Contains(t, string(doc), `"i":-42,`)
	assert.Contains(t, string(doc), `"u":18446744073709551615,`)
	assert.Contains(t, string(doc), `"f":42.0,`)
	assert.Contains(t, string(doc), `"f2":1e-09,`)
	assert.Contains(t, string(doc), `"f3":1.5e+300,`)
	assert.Contains(t, string(doc), `"f32":0.1,`)
	assert.Contains(t, string(doc), `"nan":"NaN","pinf":"+Inf","ninf":"-Inf"`)
	assert.Contains(t, string(doc), `"bin":{"$bytes":"AAEC"}`)
	m := decode(t, doc)
	assert.Equal(t, "héllo \"q\" \\ \n\t\x01 \u2028", m["s"])
	assert.Equal(t, true, m["b"])
	assert.Nil(t, m["n"])
	assert.Equal(t, ts.Format(time.RFC3339Nano), m["t"])
	assert.Equal(t, "1.5s", m["d"])
	assert.Equal(t, "a\uFFFDb", m["bad"])
	assert.False(t, a.Truncated())
}

func TestAppendFloatAlwaysHasFractionOrExponent(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 42, 1e20, 1e21, 123456789, 0.5, 1e-6, 1e-7, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		s := string(appendFloat(nil, f, 64))
		assert.True(t, strings.ContainsAny(s, ".eE"), "%v -> %s", f, s)
		var back float64
		require.NoError(t, json.Unmarshal([]byte(s), &back), s)
		assert.Equal(t, f, back, s)
	}
	for _, f := range []float32{0.1, 3, 1e30, 1e-10} {
		s := string(appendFloat(nil, float64(f), 32))
		assert.True(t, strings.ContainsAny(s, ".eE"), "%v -> %s", f, s)
		var back float32
		require.NoError(t, json.Unmarshal([]byte(s), &back), s)
		assert.Equal(t, f, back, s)
	}
}

func TestAppendDurationMatchesString(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 999, 1000, 1500, time.Millisecond, 1500 * time.Microsecond, time.Second,
		1500 * time.Millisecond, time.Minute, time.Hour, 25*time.Hour + 61*time.Second + 5, -3 * time.Second,
		math.MinInt64, math.MaxInt64, 1234567891234} {
		assert.Equal(t, d.String(), string(appendDuration(nil, d)))
	}
}

func TestAttrsNesting(t *testing.T) {
	var a Attrs
	a.Key("obj")
	a.BeginObject()
	a.Key("x")
	a.Int(1)
	a.Key("arr")
	a.BeginArray()
	a.Int(1)
	a.String("two")
	a.BeginObject()
	a.Key("k")
	a.Bool(false)
	a.EndObject()
	a.EndArray()
	a.EndObject()
	a.Key("ns")
	a.BeginObject()
	a.Key("open")
	a.Int(2) // left open: Bytes closes it
	doc := a.Bytes()
	assert.JSONEq(t, `{"obj":{"x":1,"arr":[1,"two",{"k":false}]},"ns":{"open":2}}`, string(doc))
}

func TestAttrsEmptyIsNil(t *testing.T) {
	var a Attrs
	assert.Nil(t, a.Bytes())
	a.BeginObject()
	a.EndObject()
	assert.NotNil(t, a.Bytes()) // {"":{}}: a value without a key keeps the empty key
	a.Reset()
	assert.True(t, a.Empty())
}

func TestAttrsBrokenCallSequencesStayValid(t *testing.T) {
	tests := []struct {
		name string
		do   func(a *Attrs)
		want string
	}{
		{"value without key", func(a *Attrs) { a.Int(1) }, `{"":1}`},
		{"key without value", func(a *Attrs) { a.Key("a"); a.Key("b"); a.Int(2) }, `{"a":null,"b":2}`},
		{"dangling key", func(a *Attrs) { a.Key("a") }, `{"a":null}`},
		{"extra end", func(a *Attrs) { a.EndObject(); a.EndArray(); a.Key("a"); a.Int(1) }, `{"a":1}`},
		{"mismatched end", func(a *Attrs) { a.Key("a"); a.BeginArray(); a.Int(1); a.EndObject() }, `{"a":[1]}`},
		{"key in array ignored", func(a *Attrs) { a.Key("a"); a.BeginArray(); a.Key("x"); a.Int(1); a.EndArray() }, `{"a":[1]}`},
		{"key before end", func(a *Attrs) { a.Key("a"); a.BeginObject(); a.Key("x"); a.EndObject() }, `{"a":{"x":null}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Attrs
			tt.do(&a)
			assert.JSONEq(t, tt.want, string(a.Bytes()))
		})
	}
}

func TestAttrsTooManyKeys(t *testing.T) {
	var a Attrs
	for i := range 200 {
		a.Key("k" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + time.Duration(i).String())
		a.Int(int64(i))
	}
	doc := a.Bytes()
	checkLimits(t, doc)
	m := decode(t, doc)
	assert.Len(t, m, MaxAttributesKeys)
	assert.Equal(t, TruncationMarker, m[TruncatedKey])
}

func TestAttrsTooDeep(t *testing.T) {
	var a Attrs
	a.Key("deep")
	for range 40 {
		a.BeginObject()
		a.Key("n")
	}
	a.Int(1)
	for range 40 {
		a.EndObject()
	}
	a.Key("after")
	a.Int(2)
	doc := a.Bytes()
	checkLimits(t, doc)
	assert.Contains(t, string(doc), `"`+TruncationMarker+`"`)
	assert.Equal(t, json.Number("2"), decode(t, doc)["after"])
	assert.True(t, a.Truncated())
}

func TestAttrsOversizedStringIsCut(t *testing.T) {
	var a Attrs
	a.Key("small")
	a.String("ok")
	a.Key("big")
	a.String(strings.Repeat("é", 100_000))
	a.Key("next")
	a.String(strings.Repeat("x", 100))
	doc := a.Bytes()
	checkLimits(t, doc)
	m := decode(t, doc)
	assert.Equal(t, "ok", m["small"])
	big := m["big"].(string)
	assert.True(t, strings.HasSuffix(big, TruncationMarker))
	assert.True(t, utf8.ValidString(big))
	assert.Greater(t, len(big), 60_000)
	// No room left for "next": it is left out and the document says so.
	assert.NotContains(t, m, "next")
	assert.Equal(t, TruncationMarker, m[TruncatedKey])
}

func TestAttrsOversizedEscapesAreCut(t *testing.T) {
	var a Attrs
	a.Key("ctl")
	a.String(strings.Repeat("\x01", 50_000)) // 6 bytes escaped each
	doc := a.Bytes()
	checkLimits(t, doc)
	assert.True(t, strings.HasSuffix(decode(t, doc)["ctl"].(string), TruncationMarker))
}

func TestAttrsOversizedBinaryIsLeftOut(t *testing.T) {
	var a Attrs
	a.Key("bin")
	a.Binary(make([]byte, 100_000))
	a.Key("after")
	a.Int(1)
	doc := a.Bytes()
	checkLimits(t, doc)
	m := decode(t, doc)
	assert.NotContains(t, m, "bin")
	assert.Equal(t, json.Number("1"), m["after"])
	assert.Equal(t, TruncationMarker, m[TruncatedKey])
}

func TestAttrsManyValuesInArrayStayInBudget(t *testing.T) {
	var a Attrs
	a.Key("arr")
	a.BeginArray()
	for i := range 100_000 {
		a.Int(int64(i))
	}
	a.EndArray()
	doc := a.Bytes()
	checkLimits(t, doc)
	assert.Equal(t, TruncationMarker, decode(t, doc)[TruncatedKey])
}

func TestAttrsSaveRestore(t *testing.T) {
	var a Attrs
	a.Key("svc")
	a.String("x")
	a.Key("ns")
	a.BeginObject()
	prefix, st := a.Save()
	prefix = bytes.Clone(prefix)
	for i := range 2 {
		var b Attrs
		b.Restore(prefix, st)
		b.Key("i")
		b.Int(int64(i))
		assert.JSONEq(t, `{"svc":"x","ns":{"i":`+string(rune('0'+i))+`}}`, string(b.Bytes()))
	}
}

type jsonM struct{ V int }

func (j jsonM) MarshalJSON() ([]byte, error) { return []byte(`{"v":1.0,"n":[1,2.5,"s"]}`), nil }

type textM struct{}

func (textM) MarshalText() ([]byte, error) { return []byte("text!"), nil }

type panicky struct{}

func (*panicky) MarshalJSON() ([]byte, error) { panic("boom") }

type inner struct {
	A int `json:"a"`
}

type outer struct {
	inner
	Name   string            `json:"name"`
	Skip   string            `json:"-"`
	Empty  string            `json:"empty,omitempty"`
	Ptr    *int              `json:"ptr"`
	M      map[string]any    `json:"m"`
	B      []byte            `json:"b"`
	T      time.Time         `json:"t"`
	D      time.Duration     `json:"d"`
	F      float64           `json:"f"`
	C      complex128        `json:"c"`
	J      jsonM             `json:"j"`
	X      textM             `json:"x"`
	E      error             `json:"e"`
	IM     map[int]string    `json:"im"`
	Arr    [2]uint8          `json:"arr"`
	Nested *outer            `json:"nested,omitempty"`
	Str    map[string]string `json:"str"`
}

func TestAttrsAny(t *testing.T) {
	n := 7
	v := outer{
		inner: inner{A: 1}, Name: "n", Skip: "s", Ptr: &n,
		M: map[string]any{"z": 1, "a": 2.0}, B: []byte("hi"),
		T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), D: time.Second, F: 3, C: complex(1, 2),
		E: errors.New("bad"), IM: map[int]string{2: "b", 1: "a"}, Arr: [2]uint8{1, 2},
		Str: map[string]string{"k": "v"},
	}
	var a Attrs
	a.Key("v")
	a.Any(v)
	a.Key("p")
	a.Any(&panicky{})
	a.Key("nilp")
	a.Any((*outer)(nil))
	a.Key("ch")
	a.Any(make(chan int))
	doc := a.Bytes()
	checkLimits(t, doc)
	want := `{"v":{"a":1,"name":"n","ptr":7,"m":{"a":2.0,"z":1},"b":{"$bytes":"aGk="},
	  "t":"2026-01-02T03:04:05Z","d":"1s","f":3.0,"c":"(1+2i)","j":{"n":[1,2.5,"s"],"v":1.0},"x":"text!",
	  "e":"bad","im":{"1":"a","2":"b"},"arr":[1,2],"str":{"k":"v"}},
	  "p":"<*sawmill.panicky: MarshalJSON panicked: boom>","nilp":null,"ch":"chan int"}`
	assert.JSONEq(t, want, string(doc))
	assert.Contains(t, string(doc), `"m":{"a":2.0,"z":1}`, "float stays a float, map keys sorted")
}

func TestAttrsAnyCycleStops(t *testing.T) {
	type node struct {
		Next *node `json:"next"`
	}
	n := &node{}
	n.Next = n
	var a Attrs
	a.Key("cycle")
	a.Any(n)
	doc := a.Bytes()
	checkLimits(t, doc)
	assert.Contains(t, string(doc), TruncationMarker)
}

func FuzzAttrs(f *testing.F) {
	f.Add([]byte("key"), []byte("value"), uint8(3), int64(1), 1.5)
	f.Add([]byte("\xff\xfe"), []byte("\x00\"\\"), uint8(200), int64(-1), math.NaN())
	f.Fuzz(func(t *testing.T, key, val []byte, ops uint8, i int64, fl float64) {
		var a Attrs
		for n := range int(ops) {
			switch (n + int(i&7)) % 9 {
			case 0:
				a.Key(string(key))
			case 1:
				a.String(strings.Repeat(string(val), n+1))
			case 2:
				a.Int(i)
			case 3:
				a.Float(fl)
			case 4:
				a.BeginObject()
			case 5:
				a.BeginArray()
			case 6:
				a.EndObject()
			case 7:
				a.EndArray()
			case 8:
				a.Binary(val)
			}
		}
		checkLimits(t, a.Bytes())
	})
}

// TestAttrsServerRulesBeyondJSON: NUL is written as the escape \u0000 (in
// keys too), and "$" keys, reserved for markers, get a "_" prefix: a user's
// "$bytes" key used to get a whole batch rejected.
func TestAttrsServerRulesBeyondJSON(t *testing.T) {
	var a Attrs
	a.Key("nul")
	a.String("a\x00b")
	a.Key("k\x00")
	a.Int(1)
	a.Key("$bytes")
	a.String("not base64")
	a.Key("obj")
	a.BeginObject()
	a.Key("$x")
	a.Bool(true)
	a.EndObject()
	a.Key("bin")
	a.Binary([]byte{0, 1})
	doc := a.Bytes()
	checkLimits(t, doc)
	assert.Equal(t, `{"nul":"a\u0000b","k\u0000":1,"_$bytes":"not base64","obj":{"_$x":true},"bin":{"$bytes":"AAE="}}`, string(doc))

	// A cut string counts NUL at its escaped size.
	a.Key("long")
	a.String(strings.Repeat("\x00", MaxAttributesBytes))
	doc = a.Bytes()
	checkLimits(t, doc)
	assert.Greater(t, len(doc), MaxAttributesBytes-reserve-64, "the budget is used, not wasted on escapes that are not written")
}

// TestAttrsKeyEscapingCountsInBudget: a key is measured as written
// (escapes included), so a key without a value cannot push the document
// past 64 KiB.
func TestAttrsKeyEscapingCountsInBudget(t *testing.T) {
	for _, tail := range []func(a *Attrs){
		func(*Attrs) {},
		func(a *Attrs) { a.Key("next") },
		func(a *Attrs) { a.BeginObject() },
	} {
		var a Attrs
		a.Key("first")
		a.Int(1)
		a.Key(strings.Repeat("\x01", 20_000))
		tail(&a)
		doc := a.Bytes()
		checkLimits(t, doc)
		m := decode(t, doc)
		assert.Equal(t, json.Number("1"), m["first"])
		assert.Equal(t, TruncationMarker, m[TruncatedKey])
	}
}

// TestAttrsBytesStartsANewDocument: writing after Bytes starts a fresh
// document, as Bytes promises; the previous one's state used to leak
// into it ("{,"k":1}", a stale key count or truncation flag).
func TestAttrsBytesStartsANewDocument(t *testing.T) {
	var a Attrs
	for i := range MaxAttributesKeys + 5 {
		a.Key("k" + string(rune('a'+i%26)))
		a.Int(int64(i))
	}
	checkLimits(t, a.Bytes())
	a.Key("k")
	a.Int(1)
	assert.Equal(t, `{"k":1}`, string(a.Bytes()))
}
