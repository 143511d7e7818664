package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNarrativeFollowsTheXHTMLRules: a text.div that breaks R4's
// narrative rules (scripts, event attributes, elements and attributes
// outside the basic formatting set, loading from elsewhere, XHTML that is
// not well-formed or not in the XHTML namespace) is refused at
// Patient.text.div on create, update and in a transaction, and nothing is
// stored; a narrative within the rules is kept as sent.
func TestNarrativeFollowsTheXHTMLRules(t *testing.T) {
	t.Parallel()
	const ns = `xmlns="http://www.w3.org/1999/xhtml"`
	bad := map[string]string{
		"script":             `<div ` + ns + `><script>alert(1)</script>Ada</div>`,
		"event attribute":    `<div ` + ns + `><p onclick="alert(1)">Ada</p></div>`,
		"form":               `<div ` + ns + `><form><input/></form></div>`,
		"iframe":             `<div ` + ns + `><iframe src="https://evil.example/"></iframe>Ada</div>`,
		"javascript link":    `<div ` + ns + `><a href="javascript:alert(1)">Ada</a></div>`,
		"external style":     `<div ` + ns + `><p style="background:url(https://evil.example/x.png)">Ada</p></div>`,
		"no namespace":       `<div>Ada</div>`,
		"other root":         `<p ` + ns + `>Ada</p>`,
		"not well-formed":    `<div ` + ns + `><p>Ada</div>`,
		"html entity":        `<div ` + ns + `>Ada&nbsp;Lovelace</div>`,
		"unknown attribute":  `<div ` + ns + `><span data-x="1">Ada</span></div>`,
		"empty":              `<div ` + ns + `>  </div>`,
		"two roots":          `<div ` + ns + `>Ada</div><div ` + ns + `>Bob</div>`,
		"doctype":            `<!DOCTYPE html><div ` + ns + `>Ada</div>`,
		"link element":       `<div ` + ns + `><link rel="stylesheet" href="https://evil.example/s.css"/>Ada</div>`,
		"object":             `<div ` + ns + `><object data="x.swf"></object>Ada</div>`,
		"vbscript image src": `<div ` + ns + `><img src="vbscript:x" alt="x"/></div>`,
	}
	good := `<div ` + ns + `><p style="color:red">Ada <b>Lovelace</b> <a href="https://example.org/x">link</a> <a href="#p1">here</a> <a href="ftp://ftp.example.org/v2.zip">ftp</a></p>` +
		`<img src="#photo" alt="photo"/><table><tr><td colspan="2" style="background-image: url(data:image/png;base64,AAAA)">x</td></tr></table></div>`
	patient := func(div string) string {
		d, _ := json.Marshal(div)
		return `{"resourceType":"Patient","identifier":[{"system":"https://example.org/narrative","value":"n1"}],"text":{"status":"generated","div":` + string(d) + `}}`
	}
	eachStore(t, func(t *testing.T, g *testGateway) {
		ok := g.do("POST", "/Patient", patient(good))
		require.Equal(t, http.StatusCreated, ok.status, "%s", ok.body)
		id := ok.json(t)["id"].(string)
		assert.Equal(t, good, ok.json(t)["text"].(map[string]any)["div"], "a narrative within the rules is kept as sent")

		for name, div := range bad {
			body := patient(div)
			for _, r := range []reply{
				g.do("POST", "/Patient", body),
				g.do("PUT", "/Patient/"+id, strings.Replace(body, `{"resourceType":"Patient",`, `{"resourceType":"Patient","id":"`+id+`",`, 1)),
			} {
				require.Contains(t, []int{http.StatusBadRequest, http.StatusUnprocessableEntity}, r.status, "%s: %s", name, r.body)
				issue := r.outcome(t)
				assert.Contains(t, issue["expression"], "Patient.text.div", "%s: %s", name, r.body)
				assert.Contains(t, issue["diagnostics"], "narrative", "%s", name)
			}
			tx := g.do("POST", "", txBundle(t, "transaction", txEntry{Resource: res(t, body), Request: req("POST", "Patient")}))
			assert.Contains(t, []int{http.StatusBadRequest, http.StatusUnprocessableEntity}, tx.status, "%s in a transaction: %s", name, tx.body)
		}
		assert.Equal(t, 1, total(t, g, "/Patient?identifier=https://example.org/narrative|n1"), "nothing refused was stored")
		read := g.do("GET", "/Patient/"+id, "")
		require.Equal(t, http.StatusOK, read.status)
		assert.Equal(t, "1", read.json(t)["meta"].(map[string]any)["versionId"], "no refused update was stored")
	})
}
