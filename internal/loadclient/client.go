package loadclient

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Fixture is the Task the load tool sends unless told otherwise: a
// copy of the repository's testdata/task-navigate.json, a realistic online
// consultation intake of about 2.8 KB once compacted. go:embed cannot reach
// above this folder, hence the copy; TestEmbeddedFixtureMatchesTestdata
// keeps the two equal.
//
//go:embed task-navigate.json
var Fixture []byte

// Timeout bounds every request, so a wedged gateway shows up as
// timeouts rather than a hung load.
const Timeout = 30 * time.Second

// StatusError is a response with an unexpected status.
type StatusError struct {
	Status int
	// Diagnostics is from the OperationOutcome, when there was one.
	Diagnostics string
}

func (e *StatusError) Error() string {
	if e.Diagnostics == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Diagnostics)
}

// NewHTTPClient shares one connection pool among the clients, with an
// idle connection kept for each: the default keeps two per host, which
// would make most requests dial.
func NewHTTPClient(clients int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = clients
	t.MaxIdleConnsPerHost = clients
	t.Proxy = nil
	return &http.Client{Transport: t, Timeout: Timeout}
}

// Client is the two interactions bench drives.
type Client struct {
	Base string
	HC   *http.Client
}

var ErrNoLocation = errors.New("201 Created without a Location naming a Task")

func (c *Client) Create(ctx context.Context, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/Task", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/fhir+json")
	resp, err := c.HC.Do(req)
	if err != nil {
		return "", err
	}
	if err := ExpectStatus(resp, http.StatusCreated); err != nil {
		return "", err
	}
	id, ok := IDFromLocation(resp.Header.Get("Location"), "Task")
	if !ok {
		return "", ErrNoLocation
	}
	return id, nil
}

func (c *Client) Read(ctx context.Context, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/Task/"+id, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/fhir+json")
	resp, err := c.HC.Do(req)
	if err != nil {
		return err
	}
	return ExpectStatus(resp, http.StatusOK)
}

// ExpectStatus reads and closes the body (so the connection is reused)
// and turns any other status into a StatusError.
func ExpectStatus(resp *http.Response, want int) error {
	defer resp.Body.Close()
	if resp.StatusCode == want {
		_, err := io.Copy(io.Discard, resp.Body)
		return err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	_, _ = io.Copy(io.Discard, resp.Body)
	return &StatusError{Status: resp.StatusCode, Diagnostics: OutcomeDiagnostics(b)}
}

// OutcomeDiagnostics is the first issue's diagnostics of an
// OperationOutcome, or "".
func OutcomeDiagnostics(b []byte) string {
	var oo struct {
		Issue []struct {
			Code        string `json:"code"`
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if json.Unmarshal(b, &oo) != nil || len(oo.Issue) == 0 {
		return ""
	}
	return Truncate(oo.Issue[0].Code+": "+oo.Issue[0].Diagnostics, 160)
}

// IDFromLocation takes the id out of a Location of the form
// [base]/Type/id[/_history/vid], absolute or relative.
func IDFromLocation(loc, typ string) (string, bool) {
	if u, err := url.Parse(loc); err == nil {
		loc = u.Path
	}
	segs := strings.Split(strings.Trim(loc, "/"), "/")
	for i := len(segs) - 2; i >= 0; i-- {
		if segs[i] != typ {
			continue
		}
		id := segs[i+1]
		rest := segs[i+2:]
		if id == "" || id == "_history" || !(len(rest) == 0 || (len(rest) == 2 && rest[0] == "_history")) {
			return "", false
		}
		return id, true
	}
	return "", false
}

// WaitReady polls url until it answers 200, for at most about limit.
// done, when not nil, closes if the process that should answer has exited.
func WaitReady(ctx context.Context, hc *http.Client, url string, done <-chan struct{}, limit time.Duration) error {
	giveUp := time.NewTimer(limit)
	defer giveUp.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := pollOnce(ctx, hc, url)
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return errors.New("it exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-giveUp.C:
			return fmt.Errorf("not ready after %s: %w", limit, err)
		case <-tick.C:
		}
	}
}

// pollOnce is one readiness probe; its own deadline, not the overall
// limit, bounds it, so the last error says what the target answered.
func pollOnce(ctx context.Context, hc *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	return ExpectStatus(resp, http.StatusOK)
}

// Truncate cuts s to n bytes, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
