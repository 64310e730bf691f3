package logattr

import (
	"log/slog"
	"reflect"
	"strings"
)

// Clean is a slog.HandlerOptions.ReplaceAttr:
//
//   - an attribute whose value says nothing (Empty) is left out, so a
//     line never carries "client_id":"" — a pipeline tests presence;
//   - a time.Duration becomes float seconds under key_seconds
//     ("duration":1843210 in nanoseconds becomes
//     "duration_seconds":0.00184321), the unit Prometheus uses too, in
//     JSON and text alike.
//
// The message, even empty, is kept.
func Clean(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.MessageKey {
		return a
	}
	switch v := a.Value; {
	case Empty(v):
		return slog.Attr{}
	case v.Kind() == slog.KindDuration:
		key := a.Key
		if !strings.HasSuffix(key, "_seconds") {
			key += "_seconds"
		}
		return slog.Float64(key, v.Duration().Seconds())
	}
	return a
}

// Empty reports whether v says nothing: "", a nil value, an empty list
// or map, a nil pointer, a group without attributes.
func Empty(v slog.Value) bool {
	switch v.Kind() {
	case slog.KindString:
		return v.String() == ""
	case slog.KindGroup:
		return len(v.Group()) == 0
	case slog.KindAny:
		a := v.Any()
		if a == nil {
			return true
		}
		switch rv := reflect.ValueOf(a); rv.Kind() {
		case reflect.Slice, reflect.Map:
			return rv.Len() == 0
		case reflect.Pointer, reflect.Interface:
			return rv.IsNil()
		}
	}
	return false
}
