package gateway_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// For a caller outside the owning practice, an id of another practice's
// resource answers every interaction by id exactly as an id that never
// existed does: same status, same diagnostics (the id aside).
func TestOtherPracticesIDsAnswerAsNeverExisting(t *testing.T) {
	t.Parallel()
	eachSecureStore(t, func(t *testing.T, s *secure) {
		d := seedTenants(t, s)
		b := d.navB

		withID := func(body, typ, id string) string {
			return strings.Replace(body, `"resourceType":"`+typ+`",`, `"resourceType":"`+typ+`","id":"`+id+`",`, 1)
		}
		// A's Task at version 3.
		for _, status := range []string{"received", "accepted"} {
			body := withID(strings.Replace(taskFor(odsA, d.orgA, d.patA, "task-a"), `"status":"requested"`, `"status":"`+status+`"`, 1), "Task", d.taskA)
			r := s.as(d.navA, "PUT", "/Task/"+d.taskA, body)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		}
		// A's Patient, updated once and then deleted (version 3 is the deletion).
		gone := s.created(t, d.navA, "Patient", patientBody("Gone", "9000000025"))
		require.Equal(t, http.StatusOK, s.as(d.navA, "PUT", "/Patient/"+gone, withID(patientBody("Gone-Smith", "9000000025"), "Patient", gone)).status)
		require.Equal(t, http.StatusNoContent, s.as(d.navA, "DELETE", "/Patient/"+gone, "").status)

		patch := []string{"Content-Type", "application/json-patch+json"}
		type call struct {
			method, path, body string
			headers            []string
		}
		interactions := []struct {
			name string
			// do is the interaction on typ/id; body builds B's version of
			// the resource.
			do func(typ, id string, body func(id string) string) call
		}{
			{"read", func(typ, id string, _ func(string) string) call { return call{"GET", "/" + typ + "/" + id, "", nil} }},
			{"vread 1", func(typ, id string, _ func(string) string) call {
				return call{"GET", "/" + typ + "/" + id + "/_history/1", "", nil}
			}},
			{"vread 2", func(typ, id string, _ func(string) string) call {
				return call{"GET", "/" + typ + "/" + id + "/_history/2", "", nil}
			}},
			{"vread 3", func(typ, id string, _ func(string) string) call {
				return call{"GET", "/" + typ + "/" + id + "/_history/3", "", nil}
			}},
			{"vread 4", func(typ, id string, _ func(string) string) call {
				return call{"GET", "/" + typ + "/" + id + "/_history/4", "", nil}
			}},
			{"vread x", func(typ, id string, _ func(string) string) call {
				return call{"GET", "/" + typ + "/" + id + "/_history/x", "", nil}
			}},
			{"history", func(typ, id string, _ func(string) string) call {
				return call{"GET", "/" + typ + "/" + id + "/_history", "", nil}
			}},
			{"delete", func(typ, id string, _ func(string) string) call { return call{"DELETE", "/" + typ + "/" + id, "", nil} }},
			{"delete If-Match 1", func(typ, id string, _ func(string) string) call {
				return call{"DELETE", "/" + typ + "/" + id, "", []string{"If-Match", `W/"1"`}}
			}},
			{"delete If-Match 3", func(typ, id string, _ func(string) string) call {
				return call{"DELETE", "/" + typ + "/" + id, "", []string{"If-Match", `W/"3"`}}
			}},
			{"patch", func(typ, id string, _ func(string) string) call {
				return call{"PATCH", "/" + typ + "/" + id, `[{"op":"add","path":"/language","value":"en"}]`, patch}
			}},
			{"patch If-Match 3", func(typ, id string, _ func(string) string) call {
				return call{"PATCH", "/" + typ + "/" + id, `[{"op":"add","path":"/language","value":"en"}]`, append([]string{"If-Match", `W/"3"`}, patch...)}
			}},
			{"update", func(typ, id string, body func(string) string) call {
				return call{"PUT", "/" + typ + "/" + id, body(id), nil}
			}},
			{"update If-Match 3", func(typ, id string, body func(string) string) call {
				return call{"PUT", "/" + typ + "/" + id, body(id), []string{"If-Match", `W/"3"`}}
			}},
			{"conditional update with the id in the body", func(typ, id string, body func(string) string) call {
				return call{"PUT", "/" + typ + "?identifier=" + url.QueryEscape("https://example.org/nothing|"+id), body(id), nil}
			}},
		}
		targets := []struct {
			name, typ, id string
			body          func(id string) string
		}{
			{"A's Task, 3 versions", "Task", d.taskA, func(id string) string {
				return withID(taskFor(odsB, d.orgB, d.patB, "squat"), "Task", id)
			}},
			{"A's deleted Patient", "Patient", gone, func(id string) string {
				return withID(patientBody("Squatter", "9000000033"), "Patient", id)
			}},
		}
		answer := func(r reply, id string) string {
			out := fmt.Sprint(r.status)
			if len(r.body) > 0 {
				obj := r.json(t)
				if obj["resourceType"] != "OperationOutcome" {
					return out + " " + fmt.Sprint(obj["resourceType"])
				}
				for _, is := range obj["issue"].([]any) {
					m := is.(map[string]any)
					out += fmt.Sprintf(" | %v %v", m["code"], strings.ReplaceAll(fmt.Sprint(m["diagnostics"]), id, "{id}"))
				}
			}
			return out
		}
		n := 0
		for _, tg := range targets {
			for _, in := range interactions {
				t.Run(tg.name+"/"+in.name, func(t *testing.T) {
					n++
					never := fmt.Sprintf("never-existed-%d", n)
					c := in.do(tg.typ, never, tg.body)
					want := answer(s.as(b, c.method, c.path, c.body, c.headers...), never)
					c = in.do(tg.typ, tg.id, tg.body)
					got := answer(s.as(b, c.method, c.path, c.body, c.headers...), tg.id)
					assert.Equal(t, want, got, "%s %s", c.method, c.path)
					assert.GreaterOrEqual(t, strings.Split(got, " ")[0], "400", "%s %s must not succeed on A's id", c.method, c.path)
				})
			}
		}

		// The same inside batch and transaction entries: an entry on A's id
		// answers as an entry on an id that never existed.
		entryAnswer := func(r reply, id string) string {
			obj := r.json(t)
			out := fmt.Sprint(r.status)
			if obj["resourceType"] == "Bundle" {
				e := obj["entry"].([]any)[0].(map[string]any)["response"].(map[string]any)
				out += " " + fmt.Sprint(e["status"])
				if oo, ok := e["outcome"].(map[string]any); ok {
					obj = oo
				} else {
					return out
				}
			}
			for _, is := range obj["issue"].([]any) {
				m := is.(map[string]any)
				out += fmt.Sprintf(" | %v %v", m["code"], strings.ReplaceAll(fmt.Sprint(m["diagnostics"]), id, "{id}"))
			}
			return out
		}
		for _, kind := range []string{"batch", "transaction"} {
			for _, tg := range targets {
				for _, in := range interactions {
					if strings.HasPrefix(in.name, "conditional") || strings.Contains(in.name, "x") {
						continue
					}
					t.Run(kind+"/"+tg.name+"/"+in.name, func(t *testing.T) {
						n++
						entry := func(id string) string {
							c := in.do(tg.typ, id, tg.body)
							e := `{"request":{"method":"` + c.method + `","url":"` + strings.TrimPrefix(c.path, "/") + `"`
							if len(c.headers) >= 2 && c.headers[0] == "If-Match" {
								e += `,"ifMatch":` + fmt.Sprintf("%q", c.headers[1])
							}
							e += `}`
							switch {
							case c.method == "PUT":
								e += `,"resource":` + c.body
							case c.method == "PATCH":
								e += `,"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"` + base64.StdEncoding.EncodeToString([]byte(c.body)) + `"}`
							}
							return `{"resourceType":"Bundle","type":"` + kind + `","entry":[` + e + `}]}`
						}
						never := fmt.Sprintf("never-existed-%d", n)
						want := entryAnswer(s.as(b, "POST", "/", entry(never)), never)
						got := entryAnswer(s.as(b, "POST", "/", entry(tg.id)), tg.id)
						assert.Equal(t, want, got)
						assert.Regexp(t, `^(4\d\d|200 4\d\d)( |$)`, got, "an entry on A's id must fail")
					})
				}
			}
		}

		// A's resources are untouched.
		r := s.as(d.navA, "GET", "/Task/"+d.taskA, "")
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "accepted", r.json(t)["status"])
		assert.Equal(t, `W/"3"`, r.header.Get("ETag"))
		assert.Equal(t, http.StatusGone, s.as(d.navA, "GET", "/Patient/"+gone, "").status)
		// And no id of the never-existing ones was taken by B.
		for i := 1; i <= n; i++ {
			for _, typ := range []string{"Task", "Patient"} {
				assert.Equal(t, http.StatusNotFound, s.as(b, "GET", fmt.Sprintf("/%s/never-existed-%d", typ, i), "").status)
			}
		}
	})
}
