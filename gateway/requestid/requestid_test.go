package requestid_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/signpost-fhir/signpost/gateway/requestid"
)

func TestFromHeader(t *testing.T) {
	for _, c := range []struct {
		name          string
		reqID, corrID string
		want          string
	}{
		{"request id", "abc-123", "", "abc-123"},
		{"request id wins", "abc-123", "corr-1", "abc-123"},
		{"correlation id", "", "corr-1", "corr-1"},
		{"uuid", "", "0f8fad5b-d9cb-469f-a165-70867728950e", "0f8fad5b-d9cb-469f-a165-70867728950e"},
		{"bad request id falls back", "a b", "corr-1", "corr-1"},
		{"log forging refused", "x\n{\"level\":\"ERROR\"}", "", ""},
		{"header injection refused", "x\r\nSet-Cookie: a", "", ""},
		{"too long", strings.Repeat("a", requestid.MaxLen+1), "", ""},
		{"longest", strings.Repeat("a", requestid.MaxLen), "", strings.Repeat("a", requestid.MaxLen)},
		{"none", "", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.reqID != "" {
				h.Set("X-Request-ID", c.reqID)
			}
			if c.corrID != "" {
				h.Set("X-Correlation-ID", c.corrID)
			}
			if got := requestid.FromHeader(h); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestContextAndOutboundHeader(t *testing.T) {
	ctx := context.Background()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://x", nil)
	requestid.Set(ctx, req)
	if v := req.Header.Get("X-Request-ID"); v != "" {
		t.Fatalf("no id in the context, header %q set", v)
	}
	ctx = requestid.NewContext(ctx, "req-7")
	if got := requestid.FromContext(context.WithoutCancel(ctx)); got != "req-7" {
		t.Fatalf("FromContext = %q", got)
	}
	requestid.Set(ctx, req)
	if v := req.Header.Get("X-Request-ID"); v != "req-7" {
		t.Fatalf("header %q", v)
	}
	if id := requestid.New(); requestid.Sanitize(id) != id || len(id) != 24 {
		t.Fatalf("New() = %q", id)
	}
}

func TestLogHandlerAddsTheRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(requestid.NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "x")
	ctx := requestid.NewContext(context.Background(), "req-9")
	log.InfoContext(ctx, "with")
	log.InfoContext(ctx, "explicit", "request_id", "req-9")
	log.Info("without")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("lines: %q", lines)
	}
	if !strings.Contains(lines[0], `"request_id":"req-9"`) || !strings.Contains(lines[0], `"component":"x"`) {
		t.Fatalf("line 1: %s", lines[0])
	}
	if strings.Count(lines[1], "request_id") != 1 {
		t.Fatalf("line 2 has the id twice: %s", lines[1])
	}
	if strings.Contains(lines[2], "request_id") {
		t.Fatalf("line 3: %s", lines[2])
	}
	// Wrapping twice does not add it twice.
	h := requestid.NewLogHandler(requestid.NewLogHandler(slog.NewJSONHandler(&buf, nil)))
	if _, ok := h.(requestid.LogHandler); !ok {
		t.Fatalf("%T", h)
	}
}
