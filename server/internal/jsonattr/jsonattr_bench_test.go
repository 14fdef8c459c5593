package jsonattr

import "testing"

func BenchmarkValidate(b *testing.B) {
	doc := []byte(typicalRecord)
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if err := Validate(doc, DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEqual(b *testing.B) {
	doc := []byte(typicalRecord)
	cases := []struct{ name, key, want string }{
		{"first_key", "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"},
		{"number", "http_status", "201"},
		{"last_key", "user_id", "77310"},
		{"absent_dotted", "http.status", "201"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if Equal(doc, c.key, c.want) == (c.name == "absent_dotted") {
					b.Fatal("unexpected result")
				}
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	doc := []byte(typicalRecord)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Lookup(doc, "http_path"); !ok {
			b.Fatal("absent")
		}
	}
}
