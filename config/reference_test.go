package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// leafKeys lists every configurable key of t as a dotted path, with "[]"
// after list elements ("apps[].uri").
func leafKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		path := prefix + tag
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[Duration]():
			keys = append(keys, leafKeys(ft, path+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, leafKeys(ft.Elem(), path+"[].")...)
		default:
			keys = append(keys, path)
		}
	}
	return keys
}

// TestReadmeDocumentsEveryKey keeps the README's configuration reference
// in sync with the File struct: every key must appear there in backticks.
func TestReadmeDocumentsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, ref, ok := strings.Cut(string(readme), "## Configuration reference")
	if !ok {
		t.Fatal("README has no Configuration reference section")
	}
	ref, _, _ = strings.Cut(ref, "\n## ")
	for _, k := range leafKeys(reflect.TypeFor[File](), "") {
		if !strings.Contains(ref, "`"+k+"`") {
			t.Errorf("README configuration reference does not document %s", k)
		}
	}
}
