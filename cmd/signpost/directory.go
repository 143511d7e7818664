package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signpost-fhir/signpost/mapping"
)

// signpost directory import FILE|URL: loads an NHS Service Search API v3
// organisations document (a JSON array, or the API's {"value": [...]}
// page) into a running gateway as transaction Bundles of conditional
// updates, keyed by identifier, so a re-import updates in place and an
// unchanged entry stays as it is. docs/directory.md has the mapping.
//
// Each transaction holds whole organisations (their Organization,
// Location and HealthcareServices reference each other by conditional
// reference) up to -batch entries. A transaction the gateway refuses (an
// entry it will not store: invalid, older than what it holds) is sent
// again as a batch, so the good entries are stored and each refused one is
// reported with the gateway's reason. The summary counts each entry as
// created, updated, unchanged (its version is the one it had before) or
// rejected; rejections make the exit status 1.

// directoryConfig is what `signpost directory import` is told.
type directoryConfig struct {
	Source        string
	Target        string
	Token         string
	SourceKey     string
	CanonicalBase string
	Batch         int
	Parallel      int
	Timeout       time.Duration
	JSON          bool
}

// directoryCmd runs `signpost directory SUBCOMMAND`; import is the one
// subcommand.
func directoryCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 1 && isHelpFlag(args[0]) {
		args = []string{"import", "-h"}
	}
	if len(args) == 0 || args[0] != "import" {
		return usageErr("directory: want `signpost directory import [flags] FILE|URL`")
	}
	c, err := loadDirectoryConfig(args[1:], getenv, stderr)
	if err != nil {
		return err
	}
	data, err := readSource(ctx, c)
	if err != nil {
		return err
	}
	orgs, err := mapping.ParseNHSOrganisations(data)
	if err != nil {
		return fmt.Errorf("directory import: %s: %w", c.Source, err)
	}
	d := mapping.NewDirectory(c.CanonicalBase)
	var batches [][]mapping.DirectoryEntry
	var cur []mapping.DirectoryEntry
	var warnings []string
	total := 0
	for _, o := range orgs {
		entries, warn := d.FromNHSOrganisation(o)
		warnings = append(warnings, warn...)
		if len(cur) > 0 && len(cur)+len(entries) > c.Batch {
			batches = append(batches, cur)
			cur = nil
		}
		cur = append(cur, entries...)
		total += len(entries)
	}
	if len(cur) > 0 {
		batches = append(batches, cur)
	}
	im := &importer{c: c, client: &http.Client{Timeout: c.Timeout}}
	bar := newProgress(stderr, total)
	sum := importSummary{Organisations: len(orgs), Entries: total, Warnings: warnings}
	err = im.sendAll(ctx, batches, &sum, bar)
	bar.finish()
	sum.print(stdout, c.JSON)
	if err != nil {
		return err
	}
	if len(sum.Rejected) > 0 {
		return fmt.Errorf("directory import: %d of %d entries rejected", len(sum.Rejected), total)
	}
	return nil
}

func loadDirectoryConfig(args []string, getenv func(string) string, stderr io.Writer) (directoryConfig, error) {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("signpost directory import", flag.ContinueOnError)
	target := fs.String("target", env("SIGNPOST_TARGET", "http://127.0.0.1:8080/fhir"), "FHIR base URL of the gateway (SIGNPOST_TARGET)")
	token := fs.String("token", "", "bearer token for the gateway (SIGNPOST_TOKEN, SIGNPOST_TOKEN_FILE)")
	sourceKey := fs.String("source-key", "", "subscription key sent to a Service Search URL (NHS_SERVICE_SEARCH_KEY, NHS_SERVICE_SEARCH_KEY_FILE)")
	canonical := fs.String("canonical-base", env("SIGNPOST_CANONICAL_BASE", "https://signpost.example/fhir"), "the gateway's canonical base of extensions and code systems (SIGNPOST_CANONICAL_BASE)")
	batch := fs.Int("batch", 500, "entries per transaction Bundle (whole organisations; at most the gateway's Bundle limit)")
	parallel := fs.Int("parallel", 2, "transactions in flight at once")
	timeout := fs.Duration("timeout", 2*time.Minute, "timeout of each request")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: signpost directory import [flags] FILE|URL")
			fs.PrintDefaults()
			return directoryConfig{}, errHelp
		}
		return directoryConfig{}, usageErr("directory import: %v", err)
	}
	if fs.NArg() != 1 {
		return directoryConfig{}, usageErr("directory import: want one FILE or URL, after the flags")
	}
	c := directoryConfig{Source: fs.Arg(0), Target: strings.TrimRight(*target, "/"), CanonicalBase: *canonical,
		Batch: *batch, Parallel: *parallel, Timeout: *timeout, JSON: *asJSON}
	if u, err := url.Parse(c.Target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, usageErr("directory import: -target %q is not an http(s) FHIR base URL", c.Target)
	}
	if c.Batch < 1 || c.Batch > 1000 {
		return c, usageErr("directory import: -batch %d must be between 1 and 1000", c.Batch)
	}
	if c.Parallel < 1 || c.Parallel > 64 {
		return c, usageErr("directory import: -parallel %d must be between 1 and 64", c.Parallel)
	}
	if c.Timeout <= 0 {
		return c, usageErr("directory import: -timeout must be positive")
	}
	var err error
	if c.Token, err = secret(*token, "SIGNPOST_TOKEN", getenv); err != nil {
		return c, err
	}
	if c.SourceKey, err = secret(*sourceKey, "NHS_SERVICE_SEARCH_KEY", getenv); err != nil {
		return c, err
	}
	return c, nil
}

// maxSource bounds a Service Search document: the whole of England is
// well under it.
const maxSource = 1 << 30

func readSource(ctx context.Context, c directoryConfig) ([]byte, error) {
	if !strings.HasPrefix(c.Source, "http://") && !strings.HasPrefix(c.Source, "https://") {
		data, err := os.ReadFile(c.Source)
		if err != nil {
			return nil, fmt.Errorf("directory import: %w", err)
		}
		return data, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Source, nil)
	if err != nil {
		return nil, usageErr("directory import: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	if c.SourceKey != "" {
		req.Header.Set("subscription-key", c.SourceKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("directory import: fetch %s: %w", c.Source, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxSource+1))
	if err != nil {
		return nil, fmt.Errorf("directory import: fetch %s: %w", c.Source, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("directory import: fetch %s: %s: %.200s", c.Source, resp.Status, data)
	}
	if len(data) > maxSource {
		return nil, fmt.Errorf("directory import: %s is larger than %d bytes", c.Source, maxSource)
	}
	return data, nil
}

// importSummary is what an import did.
type importSummary struct {
	Organisations int             `json:"organisations"`
	Entries       int             `json:"entries"`
	Created       int             `json:"created"`
	Updated       int             `json:"updated"`
	Unchanged     int             `json:"unchanged"`
	Rejected      []rejectedEntry `json:"rejected"`
	Warnings      []string        `json:"warnings"`
}

type rejectedEntry struct {
	Entry  string `json:"entry"` // Type?identifier=system|value
	Status string `json:"status"`
	Reason string `json:"reason"`
}

func (s importSummary) print(w io.Writer, asJSON bool) {
	if asJSON {
		if s.Rejected == nil {
			s.Rejected = []rejectedEntry{}
		}
		if s.Warnings == nil {
			s.Warnings = []string{}
		}
		b, _ := json.MarshalIndent(s, "", "  ")
		fmt.Fprintln(w, string(b))
		return
	}
	fmt.Fprintf(w, "%d organisations, %d entries: %d created, %d updated, %d unchanged, %d rejected\n",
		s.Organisations, s.Entries, s.Created, s.Updated, s.Unchanged, len(s.Rejected))
	for _, r := range s.Rejected {
		fmt.Fprintf(w, "rejected %s (%s): %s\n", r.Entry, r.Status, r.Reason)
	}
	for _, x := range s.Warnings {
		fmt.Fprintf(w, "warning: %s\n", x)
	}
}

// importer talks to the gateway.
type importer struct {
	c      directoryConfig
	client *http.Client
}

// sendAll sends the batches over c.Parallel connections; the first
// failure stops the others (what was sent stays sent: every entry is an
// idempotent conditional update, so the import can simply be run again).
func (im *importer) sendAll(ctx context.Context, batches [][]mapping.DirectoryEntry, sum *importSummary, bar *progress) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan []mapping.DirectoryEntry)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for w := 0; w < im.c.Parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				var part importSummary
				err := im.send(ctx, b, &part)
				mu.Lock()
				sum.Created += part.Created
				sum.Updated += part.Updated
				sum.Unchanged += part.Unchanged
				sum.Rejected = append(sum.Rejected, part.Rejected...)
				if err != nil && first == nil {
					first = err
					cancel()
				}
				if err == nil {
					bar.add(len(b))
				}
				mu.Unlock()
			}
		}()
	}
	for _, b := range batches {
		select {
		case next <- b:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	sort.Slice(sum.Rejected, func(i, j int) bool { return sum.Rejected[i].Entry < sum.Rejected[j].Entry })
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// send upserts one batch and counts what happened to each entry.
func (im *importer) send(ctx context.Context, entries []mapping.DirectoryEntry, sum *importSummary) error {
	before, err := im.versions(ctx, entries)
	if err != nil {
		return err
	}
	status, body, err := im.post(ctx, "", bundleOf("transaction", entries))
	if err != nil {
		return err
	}
	if status >= 400 && status < 500 && status != http.StatusUnauthorized && status != http.StatusForbidden && status != http.StatusTooManyRequests {
		// An entry was refused: store the rest, one by one, and say why.
		status, body, err = im.post(ctx, "", bundleOf("batch", entries))
		if err != nil {
			return err
		}
	}
	if status != http.StatusOK {
		return fmt.Errorf("directory import: the gateway answered %d: %s", status, outcomeText(body))
	}
	var resp struct {
		Entry []struct {
			Response struct {
				Status  string          `json:"status"`
				Etag    string          `json:"etag"`
				Outcome json.RawMessage `json:"outcome"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || len(resp.Entry) != len(entries) {
		return fmt.Errorf("directory import: the gateway's Bundle response is not one entry per request entry")
	}
	for i, e := range resp.Entry {
		code, _, _ := strings.Cut(e.Response.Status, " ")
		n, _ := strconv.Atoi(code)
		switch {
		case n == http.StatusCreated:
			sum.Created++
		case n >= 200 && n < 300:
			if v, ok := before[entries[i].URL]; ok && v == strings.Trim(strings.TrimPrefix(e.Response.Etag, "W/"), `"`) {
				sum.Unchanged++
			} else {
				sum.Updated++
			}
		default:
			sum.Rejected = append(sum.Rejected, rejectedEntry{Entry: entries[i].URL, Status: e.Response.Status, Reason: outcomeText(e.Response.Outcome)})
		}
	}
	return nil
}

// versions reads the current version of each entry's resource, by
// identifier, one search per type: "unchanged" is an entry whose version
// is the same after the upsert.
func (im *importer) versions(ctx context.Context, entries []mapping.DirectoryEntry) (map[string]string, error) {
	byType := map[string][]mapping.DirectoryEntry{}
	for _, e := range entries {
		byType[e.Type()] = append(byType[e.Type()], e)
	}
	types := make([]string, 0, len(byType))
	for t := range byType {
		types = append(types, t)
	}
	sort.Strings(types)
	out := map[string]string{}
	for _, typ := range types {
		var values []string
		for _, e := range byType[typ] {
			values = append(values, tokenEscape(e.Key.System)+"|"+tokenEscape(e.Key.Value))
		}
		form := url.Values{"identifier": {strings.Join(values, ",")}, "_elements": {"identifier"}, "_count": {"1000"}}
		status, body, err := im.do(ctx, http.MethodPost, "/"+typ+"/_search", "application/x-www-form-urlencoded", []byte(form.Encode()))
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("directory import: searching %s: %d: %s", typ, status, outcomeText(body))
		}
		var b struct {
			Entry []struct {
				Resource struct {
					Identifier []struct{ System, Value string } `json:"identifier"`
					Meta       struct {
						VersionID string `json:"versionId"`
					} `json:"meta"`
				} `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, fmt.Errorf("directory import: searching %s: %w", typ, err)
		}
		for _, e := range b.Entry {
			for _, id := range e.Resource.Identifier {
				out[mapping.ConditionalURL(typ, mapping.Identifier{System: id.System, Value: id.Value})] = e.Resource.Meta.VersionID
			}
		}
	}
	return out, nil
}

func tokenEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `,`, `\,`, `|`, `\|`, `$`, `\$`).Replace(s)
}

func bundleOf(kind string, entries []mapping.DirectoryEntry) []byte {
	list := make([]any, len(entries))
	for i, e := range entries {
		list[i] = map[string]any{"resource": e.Resource, "request": map[string]any{"method": "PUT", "url": e.URL}}
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": kind, "entry": list})
	return b
}

func (im *importer) post(ctx context.Context, path string, body []byte) (int, []byte, error) {
	return im.do(ctx, http.MethodPost, path, "application/fhir+json", body)
}

// do sends one request, again after a pause when the gateway is busy (429
// and 503 with Retry-After, 502, 504) or unreachable: conditional updates
// with the same content are safe to repeat.
func (im *importer) do(ctx context.Context, method, path, contentType string, body []byte) (int, []byte, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return 0, nil, ctx.Err()
			case <-time.After(pause(attempt, lastErr)):
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, im.c.Target+path, bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Accept", "application/fhir+json")
		if im.c.Token != "" {
			req.Header.Set("Authorization", "Bearer "+im.c.Token)
		}
		resp, err := im.client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return 0, nil, ctx.Err()
			}
			lastErr = err
			continue
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			lastErr = err
			continue
		}
		switch resp.StatusCode {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
			lastErr = &busyError{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
			continue
		}
		return resp.StatusCode, data, nil
	}
	return 0, nil, fmt.Errorf("directory import: %s %s: gave up after 5 attempts: %w", method, im.c.Target+path, lastErr)
}

type busyError struct {
	status     int
	retryAfter string
}

func (e *busyError) Error() string { return fmt.Sprintf("the gateway answered %d", e.status) }

func pause(attempt int, err error) time.Duration {
	var be *busyError
	if errors.As(err, &be) {
		if s, perr := strconv.Atoi(be.retryAfter); perr == nil && s >= 0 && s <= 120 {
			return time.Duration(s) * time.Second
		}
	}
	return time.Duration(attempt*attempt) * 500 * time.Millisecond
}

// outcomeText is the diagnostics of an OperationOutcome body, joined.
func outcomeText(body []byte) string {
	var oo struct {
		Issue []struct {
			Code        string `json:"code"`
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || len(oo.Issue) == 0 {
		return strings.TrimSpace(fmt.Sprintf("%.300s", body))
	}
	var parts []string
	for _, is := range oo.Issue {
		parts = append(parts, strings.TrimSpace(is.Code+": "+is.Diagnostics))
	}
	return strings.Join(parts, "; ")
}

// progress draws a bar on a terminal and nothing elsewhere (a log file,
// a pipe, a test): thirty lines, which a library would not make shorter.
type progress struct {
	w            io.Writer
	total, count int
	on           bool
	started      time.Time
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, started: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.on = total > 0
		}
	}
	p.draw()
	return p
}

func (p *progress) add(n int) { p.count += n; p.draw() }

func (p *progress) draw() {
	if !p.on {
		return
	}
	const width = 40
	filled := width * p.count / p.total
	rate := float64(p.count) / max(time.Since(p.started).Seconds(), 0.001)
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d entries %3d%% %6.0f/s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		p.count, p.total, 100*p.count/p.total, rate)
}

// finish ends the bar's line.
func (p *progress) finish() {
	if p.on {
		fmt.Fprintln(p.w)
	}
}
