package directory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/search"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/mapping"
)

// Candidates narrows the snapshot to the services having one of the
// types' codes (mapping.Match still checks systems), or all of them.
func (snap *Snapshot) Candidates(types []mapping.Code) []mapping.Candidate {
	if len(types) == 0 {
		return snap.cands
	}
	if len(types) == 1 {
		return snap.byTypeCode[types[0].Code]
	}
	seen := map[*mapping.Service]bool{}
	var out []mapping.Candidate
	for _, t := range types {
		for _, c := range snap.byTypeCode[t.Code] {
			if !seen[c.Service] {
				seen[c.Service] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// Cache is the decoded directory that $match and the write
// check read. It is kept exact against the store, with no clock and no
// invalidation message, so any number of gateway processes can write and
// read one database:
//
// Versions are counted in ranges of meta.lastUpdated (one indexed range
// count each). A refresh at time T takes the watermark W = T - overlap
// and records C, the versions stamped after W, and the counts of a few
// ranges between W and T (the last second, five seconds, thirty seconds,
// the rest); then it reads what changed. No write takes longer than the
// overlap between stamping a version and committing it, so anything
// committed after the refresh is stamped after W and adds to C: before
// each use the count after W is read again, and an unchanged count means
// the copy is current. When it changed, the versions stamped after T are
// read and applied, and so are those of every range whose count changed
// (a transaction that was under way at T committed since), from the
// oldest such range on. Past reloadAbove changed versions the directory
// is read afresh instead.
//
// So a caller never gets a copy older than what was committed when it
// asked, whichever process wrote it; a quiet directory costs one count per
// call, and a busy one reads each change about once.
type Cache struct {
	st      store.Store
	d       mapping.Directory
	overlap time.Duration
	now     func() time.Time

	// Concurrent callers share freshness checks: a caller that arrives
	// while a check is under way waits for the next one, which starts
	// after that check ends, so it still sees everything committed
	// before it asked; everyone waiting by then shares that one check
	// (see Snapshot).
	flight  sync.Mutex
	current *check // the check under way
	queued  *check // the check that starts when current ends

	// closed is set by Close (under flight); queued checks then run on
	// a context that is already cancelled. stop cancels the contexts of
	// the queued checks under way, and running counts them, so Close
	// can wait for them.
	closed  bool
	stop    context.Context
	stopNow context.CancelFunc
	running sync.WaitGroup

	mu     sync.Mutex
	loaded bool
	// bounds are the watermark, the range bounds and the refresh time,
	// ascending; counts[i] is the versions stamped in (bounds[i],
	// bounds[i+1]] at the refresh; total those stamped after bounds[0].
	bounds []time.Time
	counts []int
	total  int
	// changes is the store's change counter of HealthcareService at the
	// refresh, when counted (store.ChangeCounter): an equal counter means
	// the copy is current, without counting versions.
	changes int64
	counted bool
	byID    map[string]*entry
	snap    *Snapshot
}

// NewCache is the cache of d's services in st. overlap bounds how long a
// write can take between stamping meta.lastUpdated and committing, plus
// the clock skew between gateway processes; now is the clock.
func NewCache(st store.Store, d mapping.Directory, overlap time.Duration, now func() time.Time) *Cache {
	c := &Cache{st: st, d: d, overlap: overlap, now: now}
	c.stop, c.stopNow = context.WithCancel(context.Background())
	return c
}

// ErrClosed is the error of a check queued after Close.
var ErrClosed = errors.New("directory: the cache is closed")

// Close stops the checks queued behind others (their callers get an
// error) and waits for the goroutines running them to end. Callers that
// check for themselves are not affected: they run on their own context.
func (c *Cache) Close() {
	c.flight.Lock()
	c.closed = true
	c.flight.Unlock()
	if c.stopNow != nil {
		c.stopNow()
	}
	c.running.Wait()
}

// Snapshot is the directory at one moment; it is replaced, never
// changed, so readers use it after the cache's lock is released.
type Snapshot struct {
	list []*entry
	// cands are list's candidates, in the same order, as mapping.Match
	// takes them.
	cands []mapping.Candidate
	// bodyOf is each service's stored JSON.
	bodyOf map[*mapping.Service][]byte
	// byTypeCode indexes cands by the codes of their types (type,
	// specialty, team role), whatever the system.
	byTypeCode map[string][]mapping.Candidate
	// byIdentifier indexes the entries by "system|value".
	byIdentifier map[string][]*entry
	// byPractice indexes cands by the practices their catchment lists.
	byPractice map[string][]mapping.Candidate
	// byCategory indexes cands by their navigation categories, and
	// byTypeInCategory by category and type coding ("category\x00system|code").
	byCategory, byTypeInCategory map[string][]mapping.Candidate
}

// OfPractice is the candidates whose catchment lists the practice, in the
// order of cands (mapping.DecideInput.OfPractice).
func (s *Snapshot) OfPractice(practice string) []mapping.Candidate {
	return s.byPractice[practice]
}

// OfCategory is the candidates of a navigation category, in the order of
// cands (mapping.DecideInput.OfCategory).
func (s *Snapshot) OfCategory(category string) []mapping.Candidate {
	return s.byCategory[category]
}

// OfTypeInCategory is the candidates with the coding key among their
// types and of the category, in the order of cands
// (mapping.DecideInput.OfTypeInCategory).
func (s *Snapshot) OfTypeInCategory(key, category string) []mapping.Candidate {
	return s.byTypeInCategory[category+"\x00"+key]
}

// All is every service of the snapshot, as mapping.Match takes them.
func (s *Snapshot) All() []mapping.Candidate { return s.cands }

// Body is the stored JSON of a service of the snapshot.
func (s *Snapshot) Body(svc *mapping.Service) []byte { return s.bodyOf[svc] }

// ByIdentifier is the services carrying the identifier system|value.
func (s *Snapshot) ByIdentifier(system, value string) []*mapping.Service {
	var out []*mapping.Service
	for _, e := range s.byIdentifier[system+"|"+value] {
		out = append(out, e.cand.Service)
	}
	return out
}

// Decode makes a snapshot of stored HealthcareService versions, as the
// cache would hold them (for benchmarks and tools that have the versions
// at hand).
func Decode(d mapping.Directory, versions []store.Version) (*Snapshot, error) {
	c := &Cache{d: d, byID: make(map[string]*entry, len(versions))}
	for _, v := range versions {
		e, err := c.decode(v)
		if err != nil {
			return nil, err
		}
		c.byID[v.ID] = e
	}
	c.rebuild()
	return c.snap, nil
}

type entry struct {
	cand    mapping.Candidate
	body    []byte
	version int64
}

// reloadAbove: past this many changed versions a full read is cheaper than
// applying them one by one.
const reloadAbove = 5000

// lateRanges are the recent ranges counted apart, before the refresh time.
var lateRanges = []time.Duration{30 * time.Second, 5 * time.Second, time.Second}

// check is one freshness check and its outcome, shared by the
// callers that joined it; done is closed when it has ended.
type check struct {
	done chan struct{}
	snap *Snapshot
	err  error
}

// queuedCheckTimeout bounds a check run for the callers queued behind
// another (it runs on its own, not on any one caller's deadline).
const queuedCheckTimeout = time.Minute

// Snapshot is the directory as committed when it was called. With no
// check under way the caller checks (and refreshes) itself. Otherwise it
// joins the queued check, which starts only after the one under way ends
// — so after this call began — and is shared by every caller that
// queued meanwhile: under load there is about one check in flight, not
// one per caller held on a lock.
func (c *Cache) Snapshot(ctx context.Context) (*Snapshot, error) {
	c.flight.Lock()
	if c.current == nil {
		ch := &check{done: make(chan struct{})}
		c.current = ch
		c.flight.Unlock()
		c.run(ctx, ch)
		return ch.snap, ch.err
	}
	if c.queued == nil {
		c.queued = &check{done: make(chan struct{})}
	}
	ch := c.queued
	c.flight.Unlock()
	select {
	case <-ch.done:
		return ch.snap, ch.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run carries out ch, the current check, then starts the queued one.
func (c *Cache) run(ctx context.Context, ch *check) {
	ch.snap, ch.err = c.checkNow(ctx)
	close(ch.done)
	c.flight.Lock()
	next := c.queued
	c.current, c.queued = next, nil
	closed := c.closed
	if next != nil && !closed {
		c.running.Add(1)
	}
	c.flight.Unlock()
	if next == nil {
		return
	}
	// No goroutine is started once the cache is closed: the queued check
	// fails here, and so does any queued behind it meanwhile.
	for closed && next != nil {
		next.err = ErrClosed
		close(next.done)
		c.flight.Lock()
		next = c.queued
		c.current, c.queued = next, nil
		c.flight.Unlock()
	}
	if next == nil {
		return
	}
	go func() {
		defer c.running.Done()
		qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queuedCheckTimeout)
		defer cancel()
		if c.stop != nil {
			defer context.AfterFunc(c.stop, cancel)()
		}
		c.run(qctx, next)
	}()
}

// checkNow compares the store's count with the copy's and refreshes the
// copy when they differ.
func (c *Cache) checkNow(ctx context.Context) (*Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded {
		if err := c.reload(ctx); err != nil {
			return nil, err
		}
		return c.snap, nil
	}
	if c.counted {
		n, ok, err := c.st.(store.ChangeCounter).Changes(ctx, "HealthcareService")
		if err != nil {
			return nil, err
		}
		// Unchanged: current. (Once the mark is older than the overlap the
		// check below re-marks, so a later change counts few versions.)
		if ok && n == c.changes && c.now().Sub(c.bounds[len(c.bounds)-1]) <= c.overlap {
			return c.snap, nil
		}
	}
	n, err := c.count(ctx, c.bounds[0], time.Time{})
	if err != nil {
		return nil, err
	}
	// A changed count means something committed since the refresh. An
	// unchanged one past the overlap re-marks too, so the watermark
	// follows the clock: otherwise every check of a quiet directory
	// would count the versions of its last publisher sync, however long
	// ago (5,000 of them: 0.5 ms a navigation).
	if n != c.total || c.now().Sub(c.bounds[len(c.bounds)-1]) > c.overlap {
		if err := c.refresh(ctx); err != nil {
			return nil, err
		}
	}
	return c.snap, nil
}

// count is the number of HealthcareService versions stamped in
// (since, at] (at zero: no upper bound).
func (c *Cache) count(ctx context.Context, since, at time.Time) (int, error) {
	page, err := c.st.History(ctx, store.HistoryQuery{Type: "HealthcareService", Since: since, At: at})
	if err != nil {
		return 0, err
	}
	return page.Total, nil
}

// mark is a refresh's bounds and counts, taken before anything is read, so
// what commits later is counted next time.
type mark struct {
	bounds  []time.Time
	counts  []int
	total   int
	changes int64
	counted bool
}

func (c *Cache) mark(ctx context.Context) (mark, error) {
	at := c.now()
	m := mark{bounds: []time.Time{at.Add(-c.overlap)}}
	for _, d := range lateRanges {
		if d < c.overlap {
			m.bounds = append(m.bounds, at.Add(-d))
		}
	}
	m.bounds = append(m.bounds, at)
	var err error
	if cc, ok := c.st.(store.ChangeCounter); ok {
		// First: a version committed after this read moves the counter
		// past the value kept.
		if m.changes, m.counted, err = cc.Changes(ctx, "HealthcareService"); err != nil {
			return m, err
		}
	}
	if m.total, err = c.count(ctx, m.bounds[0], time.Time{}); err != nil {
		return m, err
	}
	m.counts, err = c.rangeCounts(ctx, m.bounds)
	return m, err
}

func (c *Cache) rangeCounts(ctx context.Context, bounds []time.Time) ([]int, error) {
	counts := make([]int, len(bounds)-1)
	for i := range counts {
		n, err := c.count(ctx, bounds[i], bounds[i+1])
		if err != nil {
			return nil, err
		}
		counts[i] = n
	}
	return counts, nil
}

func (c *Cache) apply(m mark, byID map[string]*entry) {
	c.bounds, c.counts, c.total, c.byID, c.loaded = m.bounds, m.counts, m.total, byID, true
	c.changes, c.counted = m.changes, m.counted
	c.rebuild()
}

func (c *Cache) reload(ctx context.Context) error {
	m, err := c.mark(ctx)
	if err != nil {
		return err
	}
	q, err := search.ParseQuery("HealthcareService", url.Values{}, true)
	if err != nil {
		return err
	}
	byID := map[string]*entry{}
	page := store.PageRequest{Count: 1000}
	for {
		res, err := c.st.Search(ctx, q, page)
		if err != nil {
			return err
		}
		for _, v := range res.Matches {
			cs, err := c.decode(v)
			if err != nil {
				return err
			}
			byID[v.ID] = cs
		}
		if res.Next == "" {
			break
		}
		page.Cursor = res.Next
	}
	c.apply(m, byID)
	return nil
}

// refresh applies what changed since the last refresh (see
// Cache).
func (c *Cache) refresh(ctx context.Context) error {
	m, err := c.mark(ctx)
	if err != nil {
		return err
	}
	// After the new mark: a late commit from now on is in its counts.
	now, err := c.rangeCounts(ctx, c.bounds)
	if err != nil {
		return err
	}
	from := c.bounds[len(c.bounds)-1]
	for i := range now {
		if now[i] != c.counts[i] {
			from = c.bounds[i]
			break
		}
	}
	// The copy is made at the first change: a refresh that finds none (the
	// directory's periodic re-mark) keeps the entries and the snapshot.
	byID, copied := c.byID, false
	change := func() {
		if !copied {
			byID, copied = maps.Clone(c.byID), true
		}
	}
	seen := map[string]bool{}
	// Newest first, offset paging with no upper bound: a version committed
	// meanwhile shifts later pages (a version is read twice, which the
	// version check absorbs); none is skipped, and it is counted next time
	// anyway.
	for offset := 0; ; {
		page, err := c.st.History(ctx, store.HistoryQuery{Type: "HealthcareService", Since: from, Count: 1000, Offset: offset})
		if err != nil {
			return err
		}
		if page.Total > reloadAbove {
			return c.reload(ctx)
		}
		for _, v := range page.Versions {
			if seen[v.ID] {
				continue
			}
			seen[v.ID] = true
			if cur, ok := byID[v.ID]; ok && cur.version >= v.VersionID {
				continue
			}
			if v.Deleted {
				if _, ok := byID[v.ID]; ok {
					change()
					delete(byID, v.ID)
				}
				continue
			}
			cs, err := c.decode(v)
			if err != nil {
				return err
			}
			change()
			byID[v.ID] = cs
		}
		offset += len(page.Versions)
		if len(page.Versions) == 0 || offset >= page.Total {
			break
		}
	}
	if !copied {
		c.bounds, c.counts, c.total = m.bounds, m.counts, m.total
		c.changes, c.counted = m.changes, m.counted
		return nil
	}
	c.apply(m, byID)
	return nil
}

func (c *Cache) decode(v store.Version) (*entry, error) {
	obj, err := fhir.DecodeJSON(v.Body)
	if err != nil {
		return nil, fmt.Errorf("directory: HealthcareService/%s version %d: %w", v.ID, v.VersionID, err)
	}
	m, _ := obj.(map[string]any)
	s, issues := mapping.ParseService(m, c.d)
	unreadable := false
	for _, is := range issues {
		unreadable = unreadable || is.Severity == fhir.SeverityError
	}
	return &entry{cand: mapping.Candidate{Service: s, Unreadable: unreadable}, body: v.Body, version: v.VersionID}, nil
}

// rebuild makes the snapshot of byID.
func (c *Cache) rebuild() {
	snap := &Snapshot{
		list:             make([]*entry, 0, len(c.byID)),
		cands:            make([]mapping.Candidate, 0, len(c.byID)),
		bodyOf:           make(map[*mapping.Service][]byte, len(c.byID)),
		byTypeCode:       map[string][]mapping.Candidate{},
		byIdentifier:     make(map[string][]*entry, len(c.byID)),
		byPractice:       map[string][]mapping.Candidate{},
		byCategory:       map[string][]mapping.Candidate{},
		byTypeInCategory: map[string][]mapping.Candidate{},
	}
	for _, v := range c.byID {
		snap.list = append(snap.list, v)
		snap.cands = append(snap.cands, v.cand)
		snap.bodyOf[v.cand.Service] = v.body
		codes := map[string]bool{}
		for k := range v.cand.Service.Types {
			_, code, _ := strings.Cut(k, "|")
			if !codes[code] {
				codes[code] = true
				snap.byTypeCode[code] = append(snap.byTypeCode[code], v.cand)
			}
		}
		for _, id := range v.cand.Service.Identifiers {
			k := id.System + "|" + id.Value
			snap.byIdentifier[k] = append(snap.byIdentifier[k], v)
		}
		if ct := v.cand.Service.Catchment; ct != nil {
			for ods := range ct.Practices {
				snap.byPractice[ods] = append(snap.byPractice[ods], v.cand)
			}
		}
		for cat := range v.cand.Service.Categories {
			snap.byCategory[cat] = append(snap.byCategory[cat], v.cand)
			for k := range v.cand.Service.Types {
				snap.byTypeInCategory[cat+"\x00"+k] = append(snap.byTypeInCategory[cat+"\x00"+k], v.cand)
			}
		}
	}
	c.snap = snap
}
