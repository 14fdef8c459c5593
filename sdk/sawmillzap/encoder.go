package sawmillzap

import (
	"fmt"
	"math"
	"strconv"
	"time"
	"unsafe"

	"go.uber.org/zap/zapcore"

	"github.com/sawmill-dev/sawmill/sdk"
)

// Keys with a meaning of their own among a log call's fields.
const (
	TraceIDKey = "trace_id" // 32 hex digits: becomes the record's trace id
	SpanIDKey  = "span_id"  // 16 hex digits: becomes the record's span id
	ErrorKey   = "error"    // zap.Error's key
)

// encoder is a zapcore.ObjectEncoder and ArrayEncoder writing typed JSON
// attributes (sawmill.Attrs) following log.proto's rules.
type encoder struct {
	a    sawmill.Attrs
	rec  sawmill.Record
	with fieldsFromWith
}

var (
	_ zapcore.ObjectEncoder = (*encoder)(nil)
	_ zapcore.ArrayEncoder  = (*encoder)(nil)
)

// addFields adds a log call's (or With's) fields. Trace and span ids and
// the first error become record fields; everything else is an attribute.
func (e *encoder) addFields(fields []zapcore.Field) {
	for i := range fields {
		e.addField(&fields[i])
	}
}

func (e *encoder) addField(f *zapcore.Field) {
	switch f.Type {
	case zapcore.StringType:
		switch f.Key {
		case TraceIDKey:
			if id, ok := sawmill.ParseTraceID(f.String); ok {
				e.with.traceID = id
				return
			}
		case SpanIDKey:
			if id, ok := sawmill.ParseSpanID(f.String); ok {
				e.with.spanID = id
				return
			}
		}
		e.a.Key(f.Key)
		e.a.String(f.String)
		return
	case zapcore.Int64Type, zapcore.Int32Type, zapcore.Int16Type, zapcore.Int8Type:
		e.a.Key(f.Key)
		e.a.Int(f.Integer)
		return
	case zapcore.BoolType:
		e.a.Key(f.Key)
		e.a.Bool(f.Integer == 1)
		return
	case zapcore.Float64Type:
		e.a.Key(f.Key)
		e.a.Float(math.Float64frombits(uint64(f.Integer)))
		return
	case zapcore.DurationType:
		e.a.Key(f.Key)
		e.a.Duration(time.Duration(f.Integer))
		return
	case zapcore.InlineMarshalerType:
		if s, ok := f.Interface.(spanContextFields); ok {
			e.with.traceID, e.with.spanID = s.traceID, s.spanID
			return
		}
	case zapcore.ErrorType:
		if err, ok := f.Interface.(error); ok && err != nil && !e.with.hasError {
			e.with.hasError = true
			e.with.err = sawmill.ErrorInfoOf(err)
			if f.Key != ErrorKey {
				// Keep the field's own name too.
				e.a.Key(f.Key)
				e.a.String(e.with.err.Message)
			}
			e.addCauses(f.Key, err)
			return
		}
	}
	e.safeAddTo(f)
}

// addCauses writes the messages of a multi-error's parts as key+"Causes",
// as zap's JSON encoder does.
func (e *encoder) addCauses(key string, err error) {
	var causes []error
	switch m := err.(type) {
	case interface{ Errors() []error }:
		causes = m.Errors()
	case interface{ Unwrap() []error }:
		causes = m.Unwrap()
	}
	if len(causes) == 0 {
		return
	}
	e.a.Key(key + "Causes")
	e.a.BeginArray()
	for _, c := range causes {
		if c != nil {
			e.a.String(sawmill.SafeErrorString(c))
		}
	}
	e.a.EndArray()
}

// safeAddTo lets zap dispatch the field, recovering a panicking user
// marshaler: the field becomes key+"Error" with the panic, the document
// stays valid, the entry is still logged.
func (e *encoder) safeAddTo(f *zapcore.Field) {
	depth := e.a.Depth()
	defer func() {
		if r := recover(); r != nil {
			e.a.CloseTo(depth)
			e.a.Key(f.Key + "Error")
			e.a.String(fmt.Sprintf("PANIC=%v", r))
		}
	}()
	f.AddTo(e)
}

// ObjectEncoder.

func (e *encoder) AddArray(key string, m zapcore.ArrayMarshaler) error {
	e.a.Key(key)
	return e.AppendArray(m)
}

func (e *encoder) AddObject(key string, m zapcore.ObjectMarshaler) error {
	e.a.Key(key)
	return e.AppendObject(m)
}

func (e *encoder) AddBinary(key string, v []byte) {
	e.a.Key(key)
	e.a.Binary(v)
}

func (e *encoder) AddByteString(key string, v []byte) {
	e.a.Key(key)
	e.AppendByteString(v)
}

func (e *encoder) AddBool(key string, v bool)              { e.a.Key(key); e.a.Bool(v) }
func (e *encoder) AddComplex128(key string, v complex128)  { e.a.Key(key); e.AppendComplex128(v) }
func (e *encoder) AddComplex64(key string, v complex64)    { e.a.Key(key); e.AppendComplex64(v) }
func (e *encoder) AddDuration(key string, v time.Duration) { e.a.Key(key); e.a.Duration(v) }
func (e *encoder) AddFloat64(key string, v float64)        { e.a.Key(key); e.a.Float(v) }
func (e *encoder) AddFloat32(key string, v float32)        { e.a.Key(key); e.a.Float32(v) }
func (e *encoder) AddInt(key string, v int)                { e.a.Key(key); e.a.Int(int64(v)) }
func (e *encoder) AddInt64(key string, v int64)            { e.a.Key(key); e.a.Int(v) }
func (e *encoder) AddInt32(key string, v int32)            { e.a.Key(key); e.a.Int(int64(v)) }
func (e *encoder) AddInt16(key string, v int16)            { e.a.Key(key); e.a.Int(int64(v)) }
func (e *encoder) AddInt8(key string, v int8)              { e.a.Key(key); e.a.Int(int64(v)) }
func (e *encoder) AddString(key, v string)                 { e.a.Key(key); e.a.String(v) }
func (e *encoder) AddTime(key string, v time.Time)         { e.a.Key(key); e.a.Time(v) }
func (e *encoder) AddUint(key string, v uint)              { e.a.Key(key); e.a.Uint(uint64(v)) }
func (e *encoder) AddUint64(key string, v uint64)          { e.a.Key(key); e.a.Uint(v) }
func (e *encoder) AddUint32(key string, v uint32)          { e.a.Key(key); e.a.Uint(uint64(v)) }
func (e *encoder) AddUint16(key string, v uint16)          { e.a.Key(key); e.a.Uint(uint64(v)) }
func (e *encoder) AddUint8(key string, v uint8)            { e.a.Key(key); e.a.Uint(uint64(v)) }
func (e *encoder) AddUintptr(key string, v uintptr)        { e.a.Key(key); e.a.Uint(uint64(v)) }
func (e *encoder) AddReflected(key string, v any) error    { e.a.Key(key); e.a.Any(v); return nil }
func (e *encoder) OpenNamespace(key string)                { e.a.Key(key); e.a.BeginObject() }
func (e *encoder) AppendBool(v bool)                       { e.a.Bool(v) }
func (e *encoder) AppendComplex128(v complex128)           { e.a.String(strconv.FormatComplex(v, 'g', -1, 128)) }
func (e *encoder) AppendComplex64(v complex64) {
	e.a.String(strconv.FormatComplex(complex128(v), 'g', -1, 64))
}
func (e *encoder) AppendFloat64(v float64)        { e.a.Float(v) }
func (e *encoder) AppendFloat32(v float32)        { e.a.Float32(v) }
func (e *encoder) AppendInt(v int)                { e.a.Int(int64(v)) }
func (e *encoder) AppendInt64(v int64)            { e.a.Int(v) }
func (e *encoder) AppendInt32(v int32)            { e.a.Int(int64(v)) }
func (e *encoder) AppendInt16(v int16)            { e.a.Int(int64(v)) }
func (e *encoder) AppendInt8(v int8)              { e.a.Int(int64(v)) }
func (e *encoder) AppendString(v string)          { e.a.String(v) }
func (e *encoder) AppendUint(v uint)              { e.a.Uint(uint64(v)) }
func (e *encoder) AppendUint64(v uint64)          { e.a.Uint(v) }
func (e *encoder) AppendUint32(v uint32)          { e.a.Uint(uint64(v)) }
func (e *encoder) AppendUint16(v uint16)          { e.a.Uint(uint64(v)) }
func (e *encoder) AppendUint8(v uint8)            { e.a.Uint(uint64(v)) }
func (e *encoder) AppendUintptr(v uintptr)        { e.a.Uint(uint64(v)) }
func (e *encoder) AppendDuration(v time.Duration) { e.a.Duration(v) }
func (e *encoder) AppendTime(v time.Time)         { e.a.Time(v) }
func (e *encoder) AppendReflected(v any) error    { e.a.Any(v); return nil }
func (e *encoder) AppendByteString(v []byte) {
	// The string view is only read during the call, never kept.
	e.a.String(unsafe.String(unsafe.SliceData(v), len(v)))
}

// AppendObject writes a nested object; namespaces the marshaler opens are
// closed with it, as in zap's JSON encoder.
func (e *encoder) AppendObject(m zapcore.ObjectMarshaler) error {
	depth := e.a.Depth()
	e.a.BeginObject()
	err := m.MarshalLogObject(e)
	e.a.CloseTo(depth)
	return err
}

// AppendArray writes a nested array.
func (e *encoder) AppendArray(m zapcore.ArrayMarshaler) error {
	depth := e.a.Depth()
	e.a.BeginArray()
	err := m.MarshalLogArray(e)
	e.a.CloseTo(depth)
	return err
}
