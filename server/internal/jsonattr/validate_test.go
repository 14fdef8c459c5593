package jsonattr

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"empty", ``},
		{"empty object", `{}`},
		{"whitespace around", " \t\r\n{ } \n"},
		{"standard workload", typicalRecord},
		{"all scalar types", `{"s":"x","i":42,"d":42.0,"e":1e-9,"t":true,"f":false,"n":null}`},
		{"nested", `{"a":{"b":{"c":[1,[2,{"d":[]}]]}}}`},
		{"empty key and value", `{"":""}`},
		{"duplicate keys", `{"a":1,"a":2}`},
		{"bytes marker", `{"blob":{"$bytes":"AAEC"}}`},
		{"truncated marker", `{"m":"abc…[truncated]"}`},
		{"whitespace everywhere", "{ \"a\" :\t[ 1 ,\n2 ] , \"b\" : { } }"},
		// numbers
		{"zero", `{"n":0}`},
		{"minus zero", `{"n":-0}`},
		{"minus zero fraction", `{"n":-0.0}`},
		{"exponent", `{"n":1e5}`},
		{"exponent upper signed", `{"n":1E+5}`},
		{"exponent negative", `{"n":-1.5e-10}`},
		{"zero exponent", `{"n":0e0}`},
		{"big integer", `{"n":123456789012345678901234567890}`},
		{"fraction", `{"n":12.5}`},
		// strings and escapes
		{"simple escapes", `{"s":"\" \\ \/ \b \f \n \r \t"}`},
		{"unicode escape", `{"s":"\u00e9\u4E2D"}`},
		{"surrogate pair", `{"s":"\ud83d\ude00"}`},
		{"surrogate pair upper hex", `{"s":"\uD83D\uDE00"}`},
		{"raw utf8", `{"s":"héllo 中文 😀"}`},
		{"utf8 key", `{"ключ":"значение"}`},
		{"DEL is not a control char in JSON", "{\"s\":\"\x7f\"}"},
		{"max 4-byte rune", "{\"s\":\"\xf4\x8f\xbf\xbf\"}"},
		{"escaped control char", `{"s":"\u0001\u001f"}`},
		{"escaped nul", `{"a":"x\u0000y"}`},
		{"escaped nul in key", `{"k\u0000":"\u0000"}`},
		// numbers at the edges of a double and of PostgreSQL's numeric
		{"max double", `{"n":1.7976931348623157e308}`},
		{"minus max double", `{"n":-1.7976931348623157e308}`},
		{"just below the overflow point, long", `{"n":179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791.99999999999999999999999999999999999999999999999999}`},
		{"max double as digits", `{"n":` + maxDoubleText + `}`},
		{"huge integer below max", `{"n":9` + strings.Repeat("0", 307) + `}`},
		{"underflows to zero", `{"n":1e-400}`},
		{"big negative exponent at the numeric limit", `{"n":1e-16383}`},
		{"long fraction at the numeric limit", `{"n":0.` + strings.Repeat("0", 16382) + `1}`},
		{"long fraction with exponent", `{"n":1.` + strings.Repeat("0", 16400) + `e17}`},
		{"zero at the numeric limit", `{"n":0.0e-16382}`},
		{"zero with the largest exponent", `{"n":0e999999999}`},
		// $bytes markers
		{"bytes empty", `{"b":{"$bytes":""}}`},
		{"bytes two pads", `{"b":{"$bytes":"AA=="}}`},
		{"bytes one pad", `{"b":{"$bytes":"AAE="}}`},
		{"bytes full alphabet", `{"b":{"$bytes":"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"}}`},
		{"bytes escaped slash", `{"b":{"$bytes":"\/w=="}}`},
		{"bytes unicode escape", `{"b":{"$bytes":"\u0041AEC"}}`},
		{"bytes in array", `{"b":[{"$bytes":"AAEC"},{"$bytes":"/w=="}]}`},
		{"bytes top level", `{"$bytes":"AAEC"}`},
		{"other dollar key", `{"b":{"$other":"not base64!"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.NoError(t, Validate([]byte(tt.doc), DefaultLimits))
			if tt.doc != "" {
				assert.True(t, json.Valid([]byte(tt.doc)), "encoding/json disagrees")
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		offset int
		msg    string // substring of the message
	}{
		{"only whitespace", "  \n", 0, "only whitespace"},
		{"array", `[1,2]`, 0, "must be a JSON object"},
		{"string", `"x"`, 0, "must be a JSON object"},
		{"number", `42`, 0, "must be a JSON object"},
		{"null", ` null`, 1, "must be a JSON object"},
		{"two objects", `{}{}`, 2, "after the top-level object"},
		{"garbage after", `{} x`, 3, "after the top-level object"},
		{"unterminated object", `{"a":1`, 6, "unexpected end"},
		{"unterminated empty", `{`, 1, "unexpected end"},
		{"missing colon", `{"a" 1}`, 5, "expected ':'"},
		{"missing value", `{"a":}`, 5, "expected a value"},
		{"unquoted key", `{a:1}`, 1, "expected a string key"},
		{"single quotes", `{'a':1}`, 1, "expected a string key"},
		{"number key", `{1:1}`, 1, "expected a string key"},
		{"trailing comma object", `{"a":1,}`, 7, "trailing comma"},
		{"trailing comma array", `{"a":[1,]}`, 8, "trailing comma"},
		{"leading comma", `{,"a":1}`, 1, "expected a string key"},
		{"double comma", `{"a":[1,,2]}`, 8, "expected a value"},
		{"missing comma", `{"a":1 "b":2}`, 7, "expected ',' or '}'"},
		{"missing comma array", `{"a":[1 2]}`, 8, "expected ',' or ']'"},
		{"mismatched close", `{"a":[1}`, 7, "expected ',' or ']'"},
		{"unterminated array", `{"a":[1`, 7, "unexpected end"},
		{"bad literal", `{"a":tru}`, 5, `expected "true"`},
		{"capital literal", `{"a":True}`, 5, "expected a value"},
		{"nan", `{"a":NaN}`, 5, "expected a value"},
		{"comment", `{/*x*/}`, 1, "expected a string key"},
		// numbers
		{"leading zero", `{"n":01}`, 5, "leading zero"},
		{"minus leading zero", `{"n":-01}`, 5, "leading zero"},
		{"dot without digits", `{"n":1.}`, 7, "after '.'"},
		{"dot first", `{"n":.5}`, 5, "expected a value"},
		{"plus sign", `{"n":+1}`, 5, "expected a value"},
		{"lone minus", `{"n":-}`, 6, "expected a digit"},
		{"minus letter", `{"n":-a}`, 6, "expected a digit"},
		{"exponent without digits", `{"n":1e}`, 7, "exponent"},
		{"exponent sign only", `{"n":1e+}`, 8, "exponent"},
		{"hex", `{"n":0x1F}`, 6, "expected ',' or '}'"},
		{"infinity", `{"n":Infinity}`, 5, "expected a value"},
		{"overflow", `{"n":1e999}`, 5, "beyond the range of a double"},
		{"negative overflow", `{"n":-1e999}`, 5, "beyond the range of a double"},
		{"overflow in array", `{"n":[1,2e308]}`, 8, "beyond the range of a double"},
		{"just above max double", `{"n":1.7976931348623159e308}`, 5, "beyond the range of a double"},
		{"the overflow point", `{"n":179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792}`, 5, "beyond the range of a double"},
		{"integer digits beyond max", `{"n":2` + strings.Repeat("0", 308) + `}`, 5, "beyond the range of a double"},
		{"overflow with fraction", `{"n":0.1e310}`, 5, "beyond the range of a double"},
		{"huge exponent", `{"n":1e99999999999999999999999}`, 5, "beyond the range of a double"},
		{"too many fraction digits", `{"n":1.` + strings.Repeat("0", 16384) + `}`, 5, "more than 16383 digits after the decimal point"},
		{"too small exponent", `{"n":1e-16384}`, 5, "more than 16383 digits after the decimal point"},
		{"zero with too small exponent", `{"n":0e-16384}`, 5, "more than 16383 digits after the decimal point"},
		{"zero with a huge exponent", `{"n":0e1000000000}`, 5, "exponent beyond ±999999999"},
		{"zero with a huge negative exponent", `{"n":-0.0e-99999999999999999999}`, 5, "more than 16383 digits after the decimal point"},
		// $bytes markers
		{"bytes not a string", `{"b":{"$bytes":12}}`, 15, `"$bytes" value must be a base64 string`},
		{"bytes with another key after", `{"b":{"$bytes":"AAEC","x":1}}`, 22, `"$bytes" must be the only key`},
		{"bytes with another key before", `{"b":{"x":1,"$bytes":"AAEC"}}`, 12, `"$bytes" must be the only key`},
		{"bytes escaped key", `{"b":{"x":1,"\u0024bytes":"AAEC"}}`, 12, `"$bytes" must be the only key`},
		{"bytes bad length", `{"b":{"$bytes":"AAE"}}`, 15, "invalid base64"},
		{"bytes bad char", `{"b":{"$bytes":"AA-_"}}`, 18, "invalid base64"},
		{"bytes url alphabet", `{"b":{"$bytes":"_w=="}}`, 16, "invalid base64"},
		{"bytes pad in the middle", `{"b":{"$bytes":"AA==AAAA"}}`, 20, "invalid base64"},
		{"bytes three pads", `{"b":{"$bytes":"A==="}}`, 17, "invalid base64"},
		{"bytes pad then char", `{"b":{"$bytes":"AA=A"}}`, 19, "invalid base64"},
		{"bytes newline escape", `{"b":{"$bytes":"AA\nAAA=="}}`, 18, "invalid base64"},
		{"bytes space", `{"b":{"$bytes":"AA AA==="}}`, 18, "invalid base64"},
		{"bytes non-ascii", `{"b":{"$bytes":"AAé="}}`, 18, "invalid base64"},
		{"bytes top level bad", `{"$bytes":"!"}`, 11, "invalid base64"},
		// strings
		{"unterminated string", `{"a":"xy`, 5, "unterminated string"},
		{"unterminated key", `{"ab`, 1, "unterminated string"},
		{"raw newline", "{\"a\":\"x\ny\"}", 7, "raw control character 0x0a"},
		{"raw tab", "{\"a\":\"\t\"}", 6, "raw control character 0x09"},
		{"raw nul", "{\"a\":\"\x00\"}", 6, "raw control character 0x00"},
		{"raw control in key", "{\"\x01\":1}", 2, "raw control character 0x01"},
		{"bad escape", `{"a":"\x"}`, 6, `invalid escape sequence "\\x"`},
		{"escape at end", `{"a":"\`, 6, "unterminated escape"},
		{"short unicode escape", `{"a":"\u12"}`, 6, "4 hex digits"},
		{"non-hex unicode escape", `{"a":"\u12g4"}`, 6, "4 hex digits"},
		{"lone high surrogate", `{"a":"\ud83d"}`, 6, "unpaired UTF-16 high surrogate"},
		{"high surrogate then char", `{"a":"\ud83dx"}`, 6, "unpaired UTF-16 high surrogate"},
		{"high surrogate then non-surrogate", `{"a":"\ud83d\u0041"}`, 6, "unpaired UTF-16 high surrogate"},
		{"two high surrogates", `{"a":"\ud83d\ud83d"}`, 6, "unpaired UTF-16 high surrogate"},
		{"lone low surrogate", `{"a":"\ude00"}`, 6, "unpaired UTF-16 low surrogate"},
		{"reversed pair", `{"a":"\ude00\ud83d"}`, 6, "unpaired UTF-16 low surrogate"},
		{"invalid utf8 byte", "{\"a\":\"\xff\"}", 6, "invalid UTF-8 byte 0xff"},
		{"truncated utf8", "{\"a\":\"\xc3\"}", 6, "invalid UTF-8 byte 0xc3"},
		{"overlong slash", "{\"a\":\"\xc0\xaf\"}", 6, "invalid UTF-8 byte 0xc0"},
		{"overlong 3-byte", "{\"a\":\"\xe0\x80\xaf\"}", 6, "invalid UTF-8 byte 0xe0"},
		{"overlong 4-byte", "{\"a\":\"\xf0\x80\x80\xaf\"}", 6, "invalid UTF-8 byte 0xf0"},
		{"utf8 encoded surrogate", "{\"a\":\"\xed\xa0\x80\"}", 6, "invalid UTF-8 byte 0xed"},
		{"beyond U+10FFFF", "{\"a\":\"\xf4\x90\x80\x80\"}", 6, "invalid UTF-8 byte 0xf4"},
		{"lone continuation", "{\"a\":\"\x80\"}", 6, "invalid UTF-8 byte 0x80"},
		{"invalid utf8 outside string", "{\xff}", 1, "byte 0xff"},
		{"bom", "\xef\xbb\xbf{}", 0, "must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate([]byte(tt.doc), DefaultLimits)
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.offset, se.Offset, "offset; message %q", se.Msg)
			assert.Contains(t, se.Msg, tt.msg)
			assert.Contains(t, err.Error(), "at byte")
		})
	}
}

func TestValidateLimits(t *testing.T) {
	nest := func(n int) string { // n levels of arrays inside the top object
		return `{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
	}
	keys := func(n int) string {
		var b strings.Builder
		b.WriteByte('{')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"k`)
			b.WriteString(strings.Repeat("x", i))
			b.WriteString(`":{"n1":1,"n2":2}`) // nested keys do not count
		}
		b.WriteByte('}')
		return b.String()
	}
	big := func(n int) string { // exactly n bytes
		return `{"a":"` + strings.Repeat("x", n-8) + `"}`
	}
	lim := Limits{MaxBytes: 100, MaxKeys: 3, MaxDepth: 4}
	tests := []struct {
		name   string
		doc    string
		lim    Limits
		what   string // "" = valid
		offset int
	}{
		{"bytes at limit", big(100), lim, "", 0},
		{"bytes over limit", big(101), lim, "bytes", 100},
		{"default bytes at limit", big(64 << 10), DefaultLimits, "", 0},
		{"default bytes over limit", big(64<<10 + 1), DefaultLimits, "bytes", 64 << 10},
		{"keys at limit", keys(3), lim, "", 0},
		{"keys over limit", keys(4), lim, "top-level keys", 64},
		{"duplicate keys count", `{"a":1,"a":1,"a":1,"a":1}`, lim, "top-level keys", 19},
		{"default keys at limit", keys(128), Limits{MaxKeys: 128}, "", 0},
		{"default keys over limit", keys(129), Limits{MaxKeys: 128}, "top-level keys", len(keys(128)) - 1 + 1},
		{"depth at limit", nest(3), lim, "", 0},
		{"depth over limit", nest(4), lim, "nesting depth", 8},
		{"objects count as depth", `{"a":{"b":{"c":{"d":{}}}}}`, lim, "nesting depth", 20},
		{"depth 1 limit allows flat", `{"a":1}`, Limits{MaxDepth: 1}, "", 0},
		{"depth 1 limit rejects nested", `{"a":[]}`, Limits{MaxDepth: 1}, "nesting depth", 5},
		{"default depth at limit", nest(15), DefaultLimits, "", 0},
		{"default depth over limit", nest(16), DefaultLimits, "nesting depth", 20},
		{"limits off", keys(200), Limits{}, "", 0},
		{"hard depth cap", nest(HardMaxDepth), Limits{}, "nesting depth", 5 + HardMaxDepth - 1},
		{"hard depth cap at limit", nest(HardMaxDepth - 1), Limits{}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate([]byte(tt.doc), tt.lim)
			if tt.what == "" {
				assert.NoError(t, err)
				return
			}
			var le *LimitError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, tt.what, le.What)
			assert.Equal(t, tt.offset, le.Offset)
			assert.Contains(t, err.Error(), "more than")
		})
	}
}

func TestValidateErrorTypes(t *testing.T) {
	err := Validate([]byte(`{"a":`), DefaultLimits)
	var le *LimitError
	assert.False(t, errors.As(err, &le))
	assert.Equal(t, "jsonattr: unexpected end of document, expected a value at byte 5", err.Error())
	err = Validate([]byte(`{"a":[[]]}`), Limits{MaxDepth: 2})
	assert.Equal(t, "jsonattr: more than 2 nesting depth at byte 6", err.Error())
}

func TestValidateDoesNotAllocate(t *testing.T) {
	docs := []string{typicalRecord, `{"s":"\ud83d\ude00 \n é","a":[1,{"b":null}],"n":-1.5e3}`, ``}
	for _, d := range docs {
		doc := []byte(d)
		allocs := testing.AllocsPerRun(100, func() {
			if err := Validate(doc, DefaultLimits); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs, d)
	}
}

// maxDoubleText is math.MaxFloat64 written out in full.
const maxDoubleText = "179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368"
