package sawmill

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Any writes an arbitrary Go value with the typed rules of log.proto, the
// way encoding/json would shape it (exported struct fields by their json
// tags, maps with sorted keys, nil as null) but keeping integers and floats
// apart: time.Time as RFC 3339, time.Duration as a duration string, []byte
// as {"$bytes":...}, errors as their message, json.Marshaler output read back
// and re-encoded, encoding.TextMarshaler as its text. Cycles and values
// nested past the depth limit end in TruncationMarker. A panicking
// MarshalJSON/MarshalText/Error is recovered and written as a string.
func (a *Attrs) Any(v any) {
	a.anyValue(v, 0)
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	jsonMarshal  = reflect.TypeFor[json.Marshaler]()
	textMarshal  = reflect.TypeFor[encoding.TextMarshaler]()
	errorType    = reflect.TypeFor[error]()
)

func (a *Attrs) anyValue(v any, depth int) {
	switch x := v.(type) {
	case nil:
		a.Null()
	case string:
		a.String(x)
	case bool:
		a.Bool(x)
	case int:
		a.Int(int64(x))
	case int64:
		a.Int(x)
	case int32:
		a.Int(int64(x))
	case uint64:
		a.Uint(x)
	case float64:
		a.Float(x)
	case float32:
		a.Float32(x)
	case []byte:
		a.Binary(x)
	case time.Time:
		a.Time(x)
	case time.Duration:
		a.Duration(x)
	case json.Number:
		a.jsonNumber(x)
	default:
		a.reflectValue(reflect.ValueOf(v), depth)
	}
}

func (a *Attrs) jsonNumber(n json.Number) {
	s := string(n)
	if strings.ContainsAny(s, ".eE") {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			a.Float(f)
			return
		}
	} else if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		a.Int(i)
		return
	} else if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		a.Uint(u)
		return
	} else if f, err := strconv.ParseFloat(s, 64); err == nil {
		// An integer beyond 64 bits: keep it as the float it is closest to.
		a.Float(f)
		return
	}
	a.String(s)
}

// maxAnyDepth stops pointer cycles well before the document's own limit.
const maxAnyDepth = MaxAttributesDepth + 4

func (a *Attrs) reflectValue(v reflect.Value, depth int) {
	if depth > maxAnyDepth {
		a.String(TruncationMarker)
		return
	}
	if !v.IsValid() {
		a.Null()
		return
	}
	t := v.Type()
	// Marshalers first, as encoding/json does (pointer receivers included
	// when the value is addressable or a non-nil pointer).
	if t.Kind() == reflect.Pointer && v.IsNil() {
		a.Null()
		return
	}
	if t.Kind() == reflect.Interface {
		if v.IsNil() {
			a.Null()
			return
		}
		a.reflectValue(v.Elem(), depth+1)
		return
	}
	switch {
	case t == timeType:
		a.Time(v.Interface().(time.Time))
		return
	case t == durationType:
		a.Duration(time.Duration(v.Int()))
		return
	case t.Implements(jsonMarshal):
		a.marshalJSON(v.Interface().(json.Marshaler), depth)
		return
	case t.Implements(textMarshal):
		a.marshalText(v.Interface().(encoding.TextMarshaler))
		return
	case t.Implements(errorType) && t.Kind() != reflect.Struct:
		a.errorString(v.Interface().(error))
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		a.reflectValue(v.Elem(), depth+1)
	case reflect.Bool:
		a.Bool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		a.Int(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		a.Uint(v.Uint())
	case reflect.Float32:
		a.Float32(float32(v.Float()))
	case reflect.Float64:
		a.Float(v.Float())
	case reflect.String:
		a.String(v.String())
	case reflect.Complex64, reflect.Complex128:
		a.String(strconv.FormatComplex(v.Complex(), 'g', -1, t.Bits()))
	case reflect.Slice:
		if v.IsNil() {
			a.Null()
			return
		}
		if t.Elem().Kind() == reflect.Uint8 && !t.Elem().Implements(jsonMarshal) && !t.Elem().Implements(textMarshal) {
			a.Binary(v.Bytes())
			return
		}
		a.array(v, depth)
	case reflect.Array:
		a.array(v, depth)
	case reflect.Map:
		if v.IsNil() {
			a.Null()
			return
		}
		a.mapValue(v, depth)
	case reflect.Struct:
		a.structValue(v, depth)
	default: // chan, func, unsafe pointer
		a.String(t.String())
	}
}

func (a *Attrs) array(v reflect.Value, depth int) {
	a.BeginArray()
	for i := range v.Len() {
		a.reflectValue(v.Index(i), depth+1)
	}
	a.EndArray()
}

func (a *Attrs) mapValue(v reflect.Value, depth int) {
	type kv struct {
		k string
		v reflect.Value
	}
	kvs := make([]kv, 0, v.Len())
	it := v.MapRange()
	for it.Next() {
		kvs = append(kvs, kv{k: mapKey(it.Key()), v: it.Value()})
	}
	slices.SortFunc(kvs, func(x, y kv) int { return strings.Compare(x.k, y.k) })
	a.BeginObject()
	for _, e := range kvs {
		a.Key(e.k)
		a.reflectValue(e.v, depth+1)
	}
	a.EndObject()
}

func mapKey(k reflect.Value) (s string) {
	defer func() {
		if r := recover(); r != nil {
			s = fmt.Sprintf("<PANIC=%v>", r)
		}
	}()
	if k.Kind() == reflect.String {
		return k.String()
	}
	if tm, ok := k.Interface().(encoding.TextMarshaler); ok {
		if b, err := tm.MarshalText(); err == nil {
			return string(b)
		}
	}
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(k.Uint(), 10)
	}
	return fmt.Sprint(k.Interface())
}

// field is one encoded struct field.
type field struct {
	name      string
	index     []int
	omitEmpty bool
	quoted    bool
}

var fieldCache sync.Map // reflect.Type -> []field

func structFields(t reflect.Type) []field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field)
	}
	var fields []field
	var walk func(t reflect.Type, index []int, seen map[reflect.Type]bool)
	walk = func(t reflect.Type, index []int, seen map[reflect.Type]bool) {
		if seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(slices.Clone(index), i)
			if sf.Anonymous && name == "" {
				ft := sf.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft, idx, seen)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			fields = append(fields, field{
				name:      name,
				index:     idx,
				omitEmpty: strings.Contains(","+opts+",", ",omitempty,"),
				quoted:    strings.Contains(","+opts+",", ",string,"),
			})
		}
	}
	walk(t, nil, map[reflect.Type]bool{})
	// Shallower fields win over embedded ones of the same name, as in encoding/json.
	out := fields[:0]
	for i, f := range fields {
		dup := false
		for j, g := range fields {
			if i != j && g.name == f.name && (len(g.index) < len(f.index) || len(g.index) == len(f.index) && j < i) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, f)
		}
	}
	fieldCache.Store(t, out)
	return out
}

func (a *Attrs) structValue(v reflect.Value, depth int) {
	a.BeginObject()
	for _, f := range structFields(v.Type()) {
		fv, ok := fieldByIndex(v, f.index)
		if !ok || f.omitEmpty && fv.IsZero() {
			continue
		}
		a.Key(f.name)
		if f.quoted {
			a.String(fmt.Sprint(fv.Interface()))
			continue
		}
		a.reflectValue(fv, depth+1)
	}
	a.EndObject()
}

// fieldByIndex walks embedded pointers, reporting false at a nil one.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

func (a *Attrs) marshalJSON(m json.Marshaler, depth int) {
	var raw []byte
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("MarshalJSON panicked: %v", r)
			}
		}()
		raw, err = m.MarshalJSON()
	}()
	if err != nil {
		a.String(fmt.Sprintf("<%T: %v>", m, err))
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		a.String(string(raw))
		return
	}
	a.decoded(v, depth)
}

// decoded writes a value produced by json.Decoder with UseNumber.
func (a *Attrs) decoded(v any, depth int) {
	if depth > maxAnyDepth {
		a.String(TruncationMarker)
		return
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		a.BeginObject()
		for _, k := range keys {
			a.Key(k)
			a.decoded(x[k], depth+1)
		}
		a.EndObject()
	case []any:
		a.BeginArray()
		for _, e := range x {
			a.decoded(e, depth+1)
		}
		a.EndArray()
	default:
		a.anyValue(x, depth)
	}
}

func (a *Attrs) marshalText(m encoding.TextMarshaler) {
	var b []byte
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("MarshalText panicked: %v", r)
			}
		}()
		b, err = m.MarshalText()
	}()
	if err != nil {
		a.String(fmt.Sprintf("<%T: %v>", m, err))
		return
	}
	a.String(string(b))
}

func (a *Attrs) errorString(e error) {
	a.String(SafeErrorString(e))
}

// SafeErrorString returns e.Error(), or a description of the panic when
// Error panics (a nil pointer receiver, typically).
func SafeErrorString(e error) (s string) {
	defer func() {
		if r := recover(); r != nil {
			s = fmt.Sprintf("<PANIC=%v>", r)
		}
	}()
	return e.Error()
}
