package sawmill

import (
	"encoding/hex"
	"fmt"
	"reflect"
)

// ParseTraceID reads a W3C trace id written as 32 hex digits. It reports
// false for anything else, including the all-zero (invalid) id.
func ParseTraceID(s string) (id [16]byte, ok bool) {
	if len(s) != 32 {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil || isZero(id[:]) {
		return [16]byte{}, false
	}
	return id, true
}

// ParseSpanID reads a W3C span id written as 16 hex digits. It reports
// false for anything else, including the all-zero (invalid) id.
func ParseSpanID(s string) (id [8]byte, ok bool) {
	if len(s) != 16 {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil || isZero(id[:]) {
		return [8]byte{}, false
	}
	return id, true
}

// ErrorInfoOf describes err for a record: its dynamic type (as fmt's %T
// prints it), its message, and as Stack the verbose form fmt's %+v gives
// when the error formats itself (github.com/pkg/errors and similar attach
// a stack trace there) and it differs from the message. Panics in the
// error's methods are recovered and described instead.
func ErrorInfoOf(err error) ErrorInfo {
	if err == nil {
		return ErrorInfo{}
	}
	info := ErrorInfo{Type: reflect.TypeOf(err).String(), Message: SafeErrorString(err)}
	if _, ok := err.(fmt.Formatter); ok {
		func() {
			defer func() {
				if r := recover(); r != nil {
					info.Stack = ""
				}
			}()
			if v := fmt.Sprintf("%+v", err); v != info.Message {
				info.Stack = v
			}
		}()
	}
	return info
}
