package gateway_test

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"
)

// BenchmarkCreateAndReadTask is the work of signpost-bench's two phases
// in-process, with a real issuer's token (navigation registered, both
// stores): create the bench's navigation Task, then read it. Its ns/op
// and allocations compare two builds on one machine more steadily than
// a load run does while other work shares the cores.
func BenchmarkCreateAndReadTask(b *testing.B) {
	fixture, err := os.ReadFile("../cmd/signpost/task-navigate.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, sc := range stores {
		b.Run(sc.name, func(b *testing.B) {
			g := newNavGateway(b, sc.open(b), nvOptions{})
			nav := nvNavigator("expert", "Y99999")
			var ids []string
			b.Run("create", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r := g.as(nav, "POST", "/Task", string(fixture))
					if r.status != http.StatusCreated {
						b.Fatalf("%d %s", r.status, r.body)
					}
					var obj struct{ ID string }
					if err := json.Unmarshal(r.body, &obj); err != nil {
						b.Fatal(err)
					}
					ids = append(ids, obj.ID)
				}
			})
			b.Run("read", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					r := g.as(nav, "GET", "/Task/"+ids[i%len(ids)], "")
					if r.status != http.StatusOK {
						b.Fatalf("%d %s", r.status, r.body)
					}
					i++
				}
			})
		})
	}
}
