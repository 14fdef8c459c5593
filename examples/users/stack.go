package main

import (
	"fmt"
	"io"
	"runtime"
)

// stackError is an error that remembers where it was made. slog has no
// stack traces of its own; sawmillslog stores what an error prints with
// %+v as the record's error stack, so an error type that prints its stack
// there (as github.com/pkg/errors and similar packages do) is all it takes.
type stackError struct {
	err error
	pcs []uintptr
}

// withStack wraps err with the stack of its caller.
func withStack(err error) error {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(2, pcs)
	return &stackError{err: err, pcs: pcs[:n]}
}

func (e *stackError) Error() string { return e.err.Error() }
func (e *stackError) Unwrap() error { return e.err }

// Format prints the message, and with %+v the stack after it, one
// "function\n\tfile:line" pair per frame like a Go panic.
func (e *stackError) Format(s fmt.State, verb rune) {
	_, _ = io.WriteString(s, e.err.Error())
	if verb != 'v' || !s.Flag('+') {
		return
	}
	frames := runtime.CallersFrames(e.pcs)
	for {
		f, more := frames.Next()
		_, _ = fmt.Fprintf(s, "\n%s\n\t%s:%d", f.Function, f.File, f.Line)
		if !more {
			return
		}
	}
}
