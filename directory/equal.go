package directory

import "reflect"

// equal compares two records field by field (they hold only values,
// strings and slices of them).
func equal[T any](a, b *T) bool { return reflect.DeepEqual(a, b) }
