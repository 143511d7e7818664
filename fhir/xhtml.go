package fhir

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The narrative rules of R4 (Narrative.div, 2.4.0 and invariants txt-1,
// txt-2): the value is well-formed XHTML whose root is a div in the
// XHTML namespace, holding only the basic HTML formatting elements and
// attributes (HTML 4.0 chapters 7-11 except 9.4, and 15), <a> links,
// images and style attributes; no head, body, scripts, forms, frames,
// objects, external stylesheets, base or link elements, event attributes
// (onclick ...), entities other than XML's, DOCTYPE or processing
// instructions, and some non-whitespace content. The element and
// attribute lists are those the HL7 validator (and so HAPI) checks.

const xhtmlNS = "http://www.w3.org/1999/xhtml"

var narrativeElements = set("p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "b", "em", "i", "strong",
	"small", "big", "tt", "dfn", "q", "var", "abbr", "acronym", "cite", "blockquote", "hr", "address", "bdo", "kbd",
	"sub", "sup", "ul", "ol", "li", "dl", "dt", "dd", "pre", "table", "caption", "colgroup", "col", "thead", "tr",
	"tfoot", "tbody", "th", "td", "code", "samp", "img", "map", "area")

// narrativeAttributes are allowed on every element.
var narrativeAttributes = set("title", "style", "class", "id", "lang", "dir", "accesskey", "tabindex",
	// tables
	"span", "width", "align", "valign", "char", "charoff", "abbr", "axis", "headers", "scope", "rowspan", "colspan")

// narrativeElementAttributes are allowed on the element named first.
var narrativeElementAttributes = set("a.href", "a.name", "img.src", "img.border", "div.xmlns", "blockquote.cite", "q.cite",
	"a.title", "a.type", "a.rel", "a.rev", "a.hreflang", "a.charset", "a.coords", "a.shape", "img.alt", "img.width", "img.height",
	"img.longdesc", "img.usemap", "img.ismap", "img.align", "img.hspace", "img.vspace", "area.shape", "area.coords", "area.href",
	"area.nohref", "area.alt", "map.name", "table.summary", "table.width", "table.border", "table.frame", "table.rules",
	"table.cellspacing", "table.cellpadding", "pre.space", "td.nowrap", "th.nowrap", "ol.start", "ol.type", "ul.type",
	"li.type", "li.value", "hr.size", "hr.noshade", "br.clear", "bdo.dir")

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// narrativeProblem says what breaks the narrative rules in div, "" when
// nothing does.
func narrativeProblem(div string) string {
	d := xml.NewDecoder(strings.NewReader(div))
	d.Strict = true // only XML's five entities; every element closed
	depth, roots := 0, 0
	content := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return "the narrative is not well-formed XHTML: " + se.Msg
			}
			return "the narrative is not well-formed XHTML"
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			if depth == 0 {
				roots++
				if roots > 1 {
					return "the narrative must be a single div element"
				}
				if name != "div" {
					return fmt.Sprintf("the narrative must be a div element, not %s", name)
				}
			}
			depth++
			if t.Name.Space != xhtmlNS {
				return fmt.Sprintf("the narrative's %s element is not in the XHTML namespace (%s)", name, xhtmlNS)
			}
			if !narrativeElements[name] {
				return fmt.Sprintf("the narrative may not contain a %s element", name)
			}
			if name == "img" {
				content = true
			}
			for _, a := range t.Attr {
				if msg := narrativeAttribute(name, a); msg != "" {
					return msg
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 {
				if strings.Trim(string(t), xmlWhitespace) != "" {
					return "the narrative has text outside its div element"
				}
				continue
			}
			content = content || strings.Trim(string(t), xmlWhitespace) != ""
		case xml.Directive:
			return "the narrative may not contain a DOCTYPE or other declaration"
		case xml.ProcInst:
			if t.Target != "xml" {
				return "the narrative may not contain processing instructions"
			}
		}
	}
	switch {
	case roots == 0:
		return "the narrative must be a div element"
	case !content:
		return "the narrative must have some non-whitespace content"
	}
	return ""
}

// xmlWhitespace is whitespace as FHIR defines it (XML's S production, the
// \s of the primitive types' regular expressions): a no-break space
// (U+00A0) is content, and a code of one is a code (v2 table 0550 has one).
const xmlWhitespace = " \t\r\n"

// narrativeAttribute checks one attribute of a narrative element.
func narrativeAttribute(elem string, a xml.Attr) string {
	n := a.Name
	switch {
	case n.Space == "xmlns" || n.Space == "" && n.Local == "xmlns":
		return "" // namespace declarations
	case n.Space == "http://www.w3.org/XML/1998/namespace" && n.Local == "lang":
		return ""
	case n.Space == "" && (narrativeAttributes[n.Local] || narrativeElementAttributes[elem+"."+n.Local]):
	case strings.HasPrefix(strings.ToLower(n.Local), "on"):
		return fmt.Sprintf("the narrative may not contain event attributes (%s on %s)", n.Local, elem)
	default:
		name := n.Local
		if n.Space != "" {
			name = n.Space + " " + n.Local
		}
		return fmt.Sprintf("the narrative's %s element may not have a %s attribute", elem, name)
	}
	v := strings.ToLower(strings.Join(strings.Fields(a.Value), ""))
	switch n.Local {
	case "href", "src", "cite", "longdesc", "usemap":
		scheme, _, ok := strings.Cut(v, ":")
		if ok && !strings.ContainsAny(scheme, "/?#") {
			switch {
			case scheme == "http", scheme == "https", scheme == "ftp", scheme == "mailto", scheme == "tel", scheme == "urn":
			case scheme == "data" && strings.HasPrefix(v, "data:image/"):
			default:
				return fmt.Sprintf("the narrative may not link to a %s: address (%s on %s)", scheme, n.Local, elem)
			}
		}
	case "style":
		if strings.Contains(v, "expression(") || strings.Contains(v, "@import") {
			return fmt.Sprintf("the narrative's style attributes may not load anything (on %s)", elem)
		}
		// Inline images (data:) and fragments only.
		for rest := v; ; {
			_, after, ok := strings.Cut(rest, "url(")
			if !ok {
				break
			}
			target := strings.TrimLeft(after, `"'`)
			if !strings.HasPrefix(target, "data:") && !strings.HasPrefix(target, "#") {
				return fmt.Sprintf("the narrative's style attributes may not load anything (on %s)", elem)
			}
			rest = after
		}
	}
	return ""
}
