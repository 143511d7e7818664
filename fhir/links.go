package fhir

import (
	"strings"

	"github.com/signpost-fhir/signpost/fhir/spec"
)

// linkTypes are the primitive types whose values R4's transaction rules
// (3.1.0.11.2) rewrite when they hold a temporary id: "resource
// references, elements of type uri, url, oid, uuid, and <a href="" &
// <img src="" in the narrative".
var linkTypes = map[string]bool{"uri": true, "url": true, "oid": true, "uuid": true}

// RewriteLinks replaces, in a resource's JSON tree, every value of an
// element of type uri, url, oid or uuid that equals a key of links, and
// every href or src attribute of its narratives (its own and its
// contained resources') that does, by the key's value. References are
// RewriteReferences's. Members the R4 definitions do not know are left
// alone: without a type, a string is not a link.
func RewriteLinks(obj map[string]any, links map[string]string) {
	if len(links) == 0 {
		return
	}
	typ, _ := obj["resourceType"].(string)
	t, ok := spec.LookupType(typ)
	if !ok || t.Structure() == nil {
		return
	}
	rewriteLinksIn(obj, t.Structure(), links, 0)
}

func rewriteLinksIn(obj map[string]any, st *spec.Structure, links map[string]string, depth int) {
	if depth > maxDepth {
		return
	}
	for k, v := range obj {
		m, ok := st.Member(k)
		if !ok || m.Type == nil {
			continue
		}
		switch {
		case linkTypes[m.Type.Name]:
			switch x := v.(type) {
			case string:
				if to, ok := links[x]; ok {
					obj[k] = to
				}
			case []any:
				for i, item := range x {
					if s, ok := item.(string); ok {
						if to, ok := links[s]; ok {
							x[i] = to
						}
					}
				}
			}
		case m.Type.Name == "xhtml":
			if s, ok := v.(string); ok {
				obj[k] = rewriteNarrativeLinks(s, links)
			}
		default:
			children := m.Element.Children
			if children == nil {
				children = m.Type.Structure()
			}
			eachObject(v, func(o map[string]any) {
				if m.Type.Kind == spec.KindResource || m.Type.Name == "Resource" {
					// A contained resource: its own type decides.
					RewriteLinks(o, links)
					return
				}
				if children != nil {
					rewriteLinksIn(o, children, links, depth+1)
				}
			})
		}
	}
}

// eachObject calls fn with v, or each object of v when v is an array.
func eachObject(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(x)
	case []any:
		for _, item := range x {
			if o, ok := item.(map[string]any); ok {
				fn(o)
			}
		}
	}
}

// rewriteNarrativeLinks replaces href="key" and src="key" (either quote)
// in an XHTML div.
func rewriteNarrativeLinks(div string, links map[string]string) string {
	if !strings.Contains(div, "href") && !strings.Contains(div, "src") {
		return div
	}
	pairs := make([]string, 0, len(links)*8)
	for from, to := range links {
		for _, attr := range []string{"href", "src"} {
			for _, q := range []string{`"`, `'`} {
				pairs = append(pairs, attr+"="+q+from+q, attr+"="+q+to+q)
			}
		}
	}
	return strings.NewReplacer(pairs...).Replace(div)
}
