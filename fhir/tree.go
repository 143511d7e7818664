package fhir

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Tree is v as a JSON tree (the decoder's types), pruned as Generate
// prunes it, for code that builds a resource, or an element, in typed
// form and hands it on as a tree. v must encode as a JSON object.
//
// Structs are walked by their encoding/json tags (name, omitempty,
// embedded structs), without a round trip through text: the tree is what
// Generate would decode from v's JSON. A value whose type has its own
// MarshalJSON, and any kind the walk does not know, goes through
// encoding/json as Generate's does.
func Tree(v any) (map[string]any, error) {
	t, err := treeValue(reflect.ValueOf(v))
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	t, _ = prune(t)
	m, ok := t.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("generate: %T is not a JSON object", v)
	}
	return m, nil
}

var marshalerType = reflect.TypeFor[json.Marshaler]()

func treeValue(v reflect.Value) (any, error) {
	if !v.IsValid() {
		return nil, nil
	}
	if v.Type().Implements(marshalerType) && v.Type() != reflect.TypeFor[json.Number]() {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return nil, nil
		}
		return marshalTree(v.Interface())
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil, nil
		}
		if v.Kind() == reflect.Interface {
			// A JSON tree (maps, slices, strings...) is copied as
			// Generate copies it.
			return generateTree(v.Elem().Interface())
		}
		return treeValue(v.Elem())
	case reflect.Struct:
		return treeStruct(v)
	case reflect.Slice:
		if v.IsNil() {
			return nil, nil
		}
		out := make([]any, v.Len())
		for i := range out {
			e, err := treeValue(v.Index(i))
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case reflect.String:
		if v.Type() == reflect.TypeFor[json.Number]() {
			return json.Number(v.String()), nil
		}
		s := v.String()
		if !utf8.ValidString(s) {
			return marshalTree(s)
		}
		return s, nil
	case reflect.Bool:
		return v.Bool(), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return json.Number(strconv.FormatInt(v.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return json.Number(strconv.FormatUint(v.Uint(), 10)), nil
	}
	return marshalTree(v.Interface())
}

// structField is one encoded field of a struct type.
type structField struct {
	index     []int
	name      string
	omitEmpty bool
}

var structFields sync.Map // reflect.Type → []structField

// fieldsOf lists t's encoded fields as encoding/json does for the tags
// Signpost uses: a name, omitempty, "-", and embedded structs whose
// fields are promoted.
func fieldsOf(t reflect.Type) []structField {
	if f, ok := structFields.Load(t); ok {
		return f.([]structField)
	}
	var out []structField
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(append([]int(nil), index...), i)
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			out = append(out, structField{index: idx, name: name, omitEmpty: strings.Contains(","+opts+",", ",omitempty,")})
		}
	}
	walk(t, nil)
	structFields.Store(t, out)
	return out
}

func treeStruct(v reflect.Value) (any, error) {
	fields := fieldsOf(v.Type())
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		fv := v.FieldByIndex(f.index)
		if f.omitEmpty && fv.IsZero() && fv.Kind() != reflect.Struct {
			continue
		}
		if f.omitEmpty && (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.Len() == 0 {
			continue
		}
		e, err := treeValue(fv)
		if err != nil {
			return nil, err
		}
		out[f.name] = e
	}
	return out, nil
}
