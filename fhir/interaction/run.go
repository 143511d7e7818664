package interaction

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// Batch and transaction runs (R4 3.1.0.11).
//
// A transaction is one Store.Transaction: every entry commits, or none
// does and the answer is the failing entry's error naming it
// (Bundle.entry[3]...). Entries are processed in the order R4 3.1.0.11.2
// sets: DELETE, then POST, then PUT and PATCH, then GET and HEAD, each
// group in Bundle order. Before anything is written, every POST gets its
// server id (or, with ifNoneExist, the id of its match) and every
// conditional PUT, PATCH and DELETE its target, so that:
//
//   - the fullUrl of each POSTed entry, and the urn:uuid:/urn:oid:
//     fullUrl of each PUT, is rewritten to Type/id in every
//     Reference.reference of every resource of the Bundle, every element
//     of type uri, url, oid or uuid and every href and src of a
//     narrative (R4 3.1.0.11.2; relative, as HAPI FHIR writes them);
//   - two entries acting on the same resource fail the transaction
//     (invalid), as R4 requires.
//
// Conditional references (Patient?identifier=a|1) are resolved by a
// search inside the transaction, just before the resource holding them is
// written, so they see what earlier entries wrote: no match is a 400,
// several a 412. The lock keys of every conditional entry are taken at the
// start, sorted, so two transactions never wait on each other's locks in
// opposite orders.
//
// A large transaction (a directory publisher's sync: hundreds of
// conditional updates keyed by identifier) costs round trips, not work,
// so on a store that can (PostgreSQL) the locks are taken in one
// statement, plain identifier criteria are searched together, and creates
// under server ids and plain updates are written together at the end of
// the write step (together.go); the answer is the same entry by entry.
//
// A batch runs each entry the same way but in a transaction of its own,
// in Bundle order; each entry has its own result or error.
//
// A Tx offers no VRead, so a transaction's vread entries are read from
// the Store before the transaction starts (versions never change once
// written; Host.VersionRead) and, inside it, from tx.Read when the
// version asked for is the current one: a version the transaction itself
// wrote is only visible there.
//
// Each entry's AuditEvent (Host.Audit) is written in the transaction that
// did what it records.

// Host is what a run needs from the server above it: its tenancy over
// the store's transaction, reads outside it, the checks of a patch, and
// audit. One Host serves one request (one caller).
type Host interface {
	// Guard wraps the store's transaction in the caller's tenancy.
	Guard(tx store.Tx) Guarded
	// VersionRead reads version n of typ/id from the store, as the
	// caller may see it.
	VersionRead(ctx context.Context, typ, id string, n int64) (store.Version, error)
	// PatchChecks are the checks of a PATCH entry's patched resource.
	PatchChecks(strict bool) PatchChecks
	// Audit writes the AuditEvent (if it has one) of e, which did res,
	// in tx: the store's transaction, never the Guarded one. practices
	// are those of what e wrote or read.
	Audit(ctx context.Context, tx store.Tx, e *Entry, res Result, practices []string) error
	// Failed records, after the fact, that a batch's entry e failed with
	// err (a failure AuditEvent where e's kind of access is audited).
	Failed(e *Entry, err error)
}

// Guarded is the store.Tx of the caller's tenancy, and what its checks
// and follow-ups of a write are, for the writes a run sends to the
// store's batch path (together.go) rather than through Create and
// Update.
type Guarded interface {
	store.Tx
	// Practices are those of the last resource written or deleted, for
	// its AuditEvent.
	Practices() []string
	// PracticesOf are the practices of a stored body, for the AuditEvent
	// of a read.
	PracticesOf(body []byte) []string
	// Restricted tells whether tenancy bounds the caller's searches of
	// typ, so the store's own lookups may not answer them.
	Restricted(typ string) bool
	// Batchable tells whether a create (update false) or an update of typ
	// may be written in a batch: false where the follow-ups of each write
	// must keep the Bundle's order or the checks need the stored version.
	Batchable(typ string, update bool) bool
	// CheckCreate and CheckUpdate are the checks Create and Update make
	// before writing r (r's practice label is set), and return the
	// practices of r.
	CheckCreate(ctx context.Context, r *fhir.Resource) ([]string, error)
	CheckUpdate(ctx context.Context, r *fhir.Resource) ([]string, error)
	// AfterWrite is the follow-up of a write (Subscription handshakes,
	// notifications), practices those its check returned.
	AfterWrite(ctx context.Context, practices []string, res store.WriteResult) (store.WriteResult, error)
}

// Options are a run's settings from the request.
type Options struct {
	// Base is the server's base URL, for search Bundles' links.
	Base string
	// Strict is Prefer: handling=strict.
	Strict bool
}

// retries bounds how often a transaction that lost a race
// (ErrConcurrentWrite) runs again.
const retries = 3

// Transaction runs the entries in one Store.Transaction, each entry's
// AuditEvent with them. On failure it reports the failing entry's index
// (-1 when the failure is not an entry's).
func Transaction(ctx context.Context, st store.Transactor, h Host, entries []*Entry, opts Options) ([]Result, int, error) {
	var keys []string
	for _, e := range entries {
		if e.IfNoneExist != nil {
			keys = append(keys, e.IfNoneExist.Key)
		}
		if e.Crit != nil {
			keys = append(keys, e.Crit.Key)
		}
		if e.Method == "PATCH" && e.Crit == nil {
			keys = append(keys, PatchLockKey(e.Type, e.ID))
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	prefetched := map[int]vread{}
	for i, e := range entries {
		if e.VID != "" {
			prefetched[i] = readAhead(ctx, h, e)
		}
	}
	var results []Result
	var err error
	failed := -1
	for attempt := 0; attempt < retries; attempt++ {
		err = st.Transaction(ctx, func(tx store.Tx) error {
			if err := LockAll(ctx, tx, keys); err != nil {
				return err
			}
			r := newRun(ctx, h, tx, entries, opts)
			r.vreads = prefetched
			err := r.do()
			failed = r.failed
			if err != nil {
				return err
			}
			results = r.results
			return r.audit()
		})
		if !errors.Is(err, ErrConcurrentWrite) {
			break
		}
	}
	if err != nil {
		return nil, failed, err
	}
	return results, -1, nil
}

// Batch runs each entry in a transaction of its own, with its AuditEvent;
// errs holds the parse errors and receives the processing ones. An entry
// that fails is reported to h.Failed.
func Batch(ctx context.Context, st store.Transactor, h Host, entries []*Entry, errs []error, opts Options) []Result {
	results := make([]Result, len(entries))
	for i, e := range entries {
		if errs[i] != nil {
			h.Failed(e, errs[i])
			continue
		}
		var out []Result
		var err error
		for attempt := 0; attempt < retries; attempt++ {
			err = st.Transaction(ctx, func(tx store.Tx) error {
				r := newRun(ctx, h, tx, []*Entry{e}, opts)
				if e.VID != "" {
					r.vreads = map[int]vread{0: readAhead(ctx, h, e)}
				}
				if err := r.do(); err != nil {
					return err
				}
				out = r.results
				return r.audit()
			})
			if !errors.Is(err, ErrConcurrentWrite) {
				break
			}
		}
		if err != nil {
			errs[i] = err
			h.Failed(e, err)
			continue
		}
		results[i] = out[0]
	}
	return results
}

// vread is a version read ahead of a transaction.
type vread struct {
	v   store.Version
	err error
}

func readAhead(ctx context.Context, h Host, e *Entry) vread {
	n, ok := ParseVersion(e.VID)
	if !ok {
		return vread{err: fhir.Errorf(fhir.CodeNotFound, "%s/%s has no version %q", e.Type, e.ID, e.VID)}
	}
	v, err := h.VersionRead(ctx, e.Type, e.ID, n)
	return vread{v: v, err: err}
}

// run is one attempt at running entries inside a transaction.
type run struct {
	host Host
	ctx  context.Context
	// tx is the caller's tenancy on raw, the store's transaction, which
	// AuditEvents are written to.
	tx      Guarded
	raw     store.Tx
	entries []*Entry
	opts    Options
	// failed is the index of the entry that failed, -1 while none has.
	failed int
	// practices holds, per entry, the practices of what it wrote or read.
	practices [][]string

	results []Result
	// work holds this attempt's copies of the entries' resources: a
	// retried attempt starts again from the Bundle as sent.
	work []*fhir.Resource
	// ids are the resolved targets of POST, PUT, PATCH and DELETE
	// entries; creates marks conditional PUTs that create.
	ids     []string
	creates []bool
	// matched holds what a POST's ifNoneExist found.
	matched []*store.Version
	// sameAs is, for a conditional create repeating an earlier one's
	// criteria, that entry's index; -1 otherwise.
	sameAs []int
	// targets maps Type/id to the entry acting on it.
	targets map[string]int
	// refs maps temporary fullUrls to Type/id.
	refs map[string]string
	// vreads are the vread entries read ahead, by entry position.
	vreads map[int]vread
	// found holds what step 2's identifier criteria match, by lock key
	// (prefetchIdentifiers).
	found map[string][]store.Version
}

// newRun prepares one attempt at running entries in tx.
func newRun(ctx context.Context, h Host, tx store.Tx, entries []*Entry, opts Options) *run {
	return &run{host: h, ctx: ctx, tx: h.Guard(tx), raw: tx, entries: entries, opts: opts, failed: -1}
}

func (t *run) fail(e *Entry, err error) error {
	t.failed = e.Index
	return EntryError(e, err)
}

// audit writes the AuditEvent of every entry, in the transaction that
// did what it records.
func (t *run) audit() error {
	for i, e := range t.entries {
		if err := t.host.Audit(t.ctx, t.raw, e, t.results[i], t.practices[i]); err != nil {
			return err
		}
	}
	return nil
}

// claim records that e acts on typ/id; a second entry on the same
// resource fails the transaction.
func (t *run) claim(e *Entry, typ, id string) error {
	key := typ + "/" + id
	if j, dup := t.targets[key]; dup {
		return t.fail(e, fhir.Errorf(fhir.CodeInvalid, "Bundle.entry[%d] already acts on %s; a Bundle may act on a resource once", j, key))
	}
	t.targets[key] = e.Index
	return nil
}

func (t *run) do() error {
	n := len(t.entries)
	t.results = make([]Result, n)
	t.practices = make([][]string, n)
	t.work = make([]*fhir.Resource, n)
	t.ids = make([]string, n)
	t.creates = make([]bool, n)
	t.matched = make([]*store.Version, n)
	t.sameAs = make([]int, n)
	for i := range t.sameAs {
		t.sameAs[i] = -1
	}
	t.targets = map[string]int{}
	t.refs = map[string]string{}
	for i, e := range t.entries {
		if e.Resource != nil {
			t.work[i] = e.Resource.Clone()
		}
	}
	ctx, tx := t.ctx, t.tx
	byMethod := func(methods ...string) []int {
		var out []int
		for i, e := range t.entries {
			if slices.Contains(methods, e.Method) {
				out = append(out, i)
			}
		}
		return out
	}

	// 1. DELETE.
	for _, i := range byMethod("DELETE") {
		e := t.entries[i]
		id := e.ID
		if e.Crit != nil {
			found, err := Matches(ctx, tx, *e.Crit)
			if err != nil {
				return t.fail(e, err)
			}
			switch len(found) {
			case 0:
				t.results[i] = Result{Outcome: Deleted, Info: "nothing matches " + e.Crit.Text + "; nothing changed"}
				continue
			case 1:
				id = found[0].ID
			default:
				return t.fail(e, SeveralMatch(*e.Crit, "conditional delete"))
			}
		}
		if err := t.claim(e, e.Type, id); err != nil {
			return err
		}
		out, err := Delete(ctx, tx, e.Type, id, e.Pre)
		if err != nil {
			return t.fail(e, err)
		}
		t.results[i], t.practices[i] = out, tx.Practices()
	}

	// 2. Identities of what POST, PUT and PATCH write. Nothing is written
	// until step 4, so the criteria of this step may be searched together.
	if err := t.prefetchIdentifiers(); err != nil {
		return err
	}
	// Conditional entries with the same criteria in one Bundle: two
	// conditional creates are one create (as HAPI FHIR consolidates
	// them), the second answering with what the first made; any other
	// pair would act twice on one identity, which R4 refuses.
	conditionals := map[string]int{}
	for _, i := range byMethod("POST") {
		e := t.entries[i]
		t.ids[i] = uuid.NewString()
		if e.IfNoneExist != nil {
			if j, dup := conditionals[e.IfNoneExist.Key]; dup {
				t.ids[i], t.matched[i], t.sameAs[i] = t.ids[j], t.matched[j], j
				if e.FullURL != "" {
					t.refs[e.FullURL] = e.Type + "/" + t.ids[i]
				}
				continue
			}
			conditionals[e.IfNoneExist.Key] = i
			found, err := t.matches(*e.IfNoneExist)
			if err != nil {
				return t.fail(e, err)
			}
			switch len(found) {
			case 0:
			case 1:
				t.matched[i] = &found[0]
				t.ids[i] = found[0].ID
			default:
				return t.fail(e, SeveralMatch(*e.IfNoneExist, "conditional create"))
			}
		}
		if err := t.claim(e, e.Type, t.ids[i]); err != nil {
			return err
		}
		if e.FullURL != "" {
			t.refs[e.FullURL] = e.Type + "/" + t.ids[i]
		}
	}
	for _, i := range byMethod("PUT", "PATCH") {
		e := t.entries[i]
		t.ids[i] = e.ID
		if e.Crit != nil {
			if j, dup := conditionals[e.Crit.Key]; dup {
				return t.fail(e, fhir.Errorf(fhir.CodeInvalid, "Bundle.entry[%d] already acts on what %s matches; a Bundle may act on a resource once", j, e.Crit.Text))
			}
			conditionals[e.Crit.Key] = i
			var err error
			if e.Method == "PUT" {
				var found []store.Version
				if found, err = t.matches(*e.Crit); err == nil {
					t.ids[i], t.creates[i], err = TargetOf(ctx, tx, e.Type, t.work[i].ID(), *e.Crit, found)
				}
			} else {
				t.ids[i], err = ConditionalID(ctx, tx, *e.Crit, "conditional patch")
			}
			if err != nil {
				return t.fail(e, err)
			}
		}
		if err := t.claim(e, e.Type, t.ids[i]); err != nil {
			return err
		}
		if strings.HasPrefix(e.FullURL, "urn:") {
			t.refs[e.FullURL] = e.Type + "/" + t.ids[i]
		}
	}

	// 3. References to the Bundle's temporary ids, and the other links
	// R4 rewrites: uri, url, oid and uuid elements and narrative links.
	// All take Type/id, relative to the base, as HAPI FHIR writes them.
	if len(t.refs) > 0 {
		for _, r := range t.work {
			if r != nil {
				fhir.RewriteReferences(r.Object(), func(ref string) (string, bool) { to, ok := t.refs[ref]; return to, ok })
				fhir.RewriteLinks(r.Object(), t.refs)
			}
		}
	}

	// 4. POST, then PUT and PATCH. Creates under server ids may be sent
	// together at the end of the step (createsTogether).
	together := t.createsTogether()
	var pending, pendingUpdates []int
	for _, i := range byMethod("POST") {
		e := t.entries[i]
		if t.sameAs[i] >= 0 {
			continue // answered once the entry it repeats is written
		}
		if t.matched[i] != nil {
			t.results[i] = Existing(*t.matched[i])
			continue
		}
		r := t.work[i]
		if err := ResolveConditionalReferences(ctx, tx, r.Object()); err != nil {
			return t.fail(e, err)
		}
		r.SetID(t.ids[i])
		if together && tx.Batchable(e.Type, false) {
			pending = append(pending, i)
			continue
		}
		out, err := Create(ctx, tx, r)
		if err != nil {
			return t.fail(e, err)
		}
		t.results[i], t.practices[i] = out, tx.Practices()
	}
	for _, i := range byMethod("PUT", "PATCH") {
		e := t.entries[i]
		var out Result
		var err error
		if e.Method == "PATCH" {
			out, err = Patch(ctx, tx, e.Type, t.ids[i], e.Patch, e.Pre, t.host.PatchChecks(t.opts.Strict))
		} else {
			r := t.work[i]
			if err = ResolveConditionalReferences(ctx, tx, r.Object()); err == nil {
				r.SetID(t.ids[i])
				switch {
				case !t.creates[i] && together && e.Pre.IfMatch == 0 && tx.Batchable(e.Type, true):
					pendingUpdates = append(pendingUpdates, i)
					continue
				case !t.creates[i]:
					out, err = Update(ctx, tx, r, e.Pre)
				case e.Pre.IfMatch != 0:
					err = fhir.Errorf(fhir.CodeConflict, "nothing matches %s, so ifMatch cannot match", e.Crit.Text).Because(fhir.DetailPreconditionFailed)
				case together && tx.Batchable(e.Type, false):
					pending = append(pending, i)
					continue
				default:
					out, err = Create(ctx, tx, r)
				}
			}
		}
		if err != nil {
			return t.fail(e, err)
		}
		t.results[i], t.practices[i] = out, tx.Practices()
	}
	if err := t.createPending(pending); err != nil {
		return err
	}
	if err := t.updatePending(pendingUpdates); err != nil {
		return err
	}
	for i, j := range t.sameAs {
		if j >= 0 {
			v := t.results[j].Version
			t.results[i], t.practices[i] = Existing(v), t.practices[j]
			t.results[i].Info = fmt.Sprintf("%s/%s, which Bundle.entry[%d] made with the same criteria; nothing more was created", v.Type, v.ID, j)
		}
	}

	// 5. GET and HEAD.
	for _, i := range byMethod("GET", "HEAD") {
		e := t.entries[i]
		switch {
		case e.VID != "":
			ahead := t.vreads[i]
			n, _ := ParseVersion(e.VID)
			if cur, err := tx.Read(ctx, e.Type, e.ID); err == nil && cur.VersionID == n {
				ahead = vread{v: cur}
			}
			if ahead.err != nil {
				return t.fail(e, ahead.err)
			}
			out, err := e.Render(ahead.v)
			if err != nil {
				return t.fail(e, err)
			}
			t.results[i], t.practices[i] = out, tx.PracticesOf(ahead.v.Body)
		case e.Search != nil:
			body, err := e.Search.Run(ctx, tx, t.opts.Base)
			if err != nil {
				return t.fail(e, err)
			}
			t.results[i] = Result{Outcome: Done, Body: body}
		default:
			v, err := tx.Read(ctx, e.Type, e.ID)
			if err != nil {
				return t.fail(e, err)
			}
			out, err := e.Render(v)
			if err != nil {
				return t.fail(e, err)
			}
			t.results[i], t.practices[i] = out, tx.PracticesOf(v.Body)
		}
	}
	return nil
}
