package navigation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/signpost-fhir/signpost/auth"
	"github.com/signpost-fhir/signpost/directory"
	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
	"github.com/signpost-fhir/signpost/internal/vcache"
	"github.com/signpost-fhir/signpost/mapping"
	"github.com/signpost-fhir/signpost/mapping/freetext"
	"github.com/signpost-fhir/signpost/snomed"
)

// Options configures care navigation.
type Options struct {
	// Terminology is required: the allocation ConceptMap and the
	// red-flag value set are read through it.
	Terminology *snomed.Terminology
	// NeedGroups finds the patient need group. Nil: the need-group
	// Observation stored for the patient (newest, not older than
	// NeedGroupMaxAge) and the need-group findings among the patient's
	// stored Conditions. The shared care record client plugs in here.
	NeedGroups mapping.NeedGroupSource
	// NeedGroupMaxAge is when a stored need group is too old to use
	// (default 365 days).
	NeedGroupMaxAge time.Duration
	// RepeatWindow is how far back earlier contacts about the same
	// problem are counted (default 28 days).
	RepeatWindow time.Duration
	// Now is the clock of decisions (timeframes, ages); default the
	// server's.
	Now func() time.Time
	// Holidays tells bank holidays; nil is England and Wales.
	Holidays func(y int, m time.Month, d int) bool
	// DemoDir, when set, seeds the demonstration content of that folder
	// (testdata/protocols: the Y99999 protocol, a directory, patients) at
	// registration, idempotently; an administrator's edits are kept.
	DemoDir string
}

// Host is what navigation needs of the server it runs in: the store, the
// tenancy rules, the write checks, the outbox and the server's settings.
type Host interface {
	// Store is the store, unguarded (the system's reads and writes).
	Store() store.Store
	// Guard is tx as p may read and change it (tenancy).
	Guard(p *auth.Principal, tx store.Tx) GuardedTx
	// Visible reports whether p may see the stored body of a resource
	// of typ.
	Visible(p *auth.Principal, typ string, body []byte) bool
	// PracticeSystem is the code system of the practice security labels.
	PracticeSystem() string
	// SetPracticeLabel labels r as practice's data.
	SetPracticeLabel(r *fhir.Resource, practice string)
	// Validate checks r as a write is checked: R4 (strict or not) and
	// the write checks registered for its type.
	Validate(ctx context.Context, r *fhir.Resource, strict bool) error
	// EnqueueOutcome queues the delivery of a committed decision to the
	// practice's clinical system, in tx (the written bodies by key:
	// task, allocation, provenance, review, revoked).
	EnqueueOutcome(ctx context.Context, tx store.Tx, practice string, written map[string][]byte) error
	// EnqueueReferral queues the BaRS referral of a committed decision
	// (and the cancellation of the one it revoked), in tx.
	EnqueueReferral(ctx context.Context, tx store.Tx, practice string, written map[string][]byte) error
	// ReferralWithheld reports whether the service of an allocation
	// takes BaRS referrals but gets none because the patient did not
	// agree to share their details (the Task's share-consent input).
	ReferralWithheld(ctx context.Context, task, allocation map[string]any) (bool, error)
	// NoteSeeded records what seeding shipped content did.
	NoteSeeded(ctx context.Context, what string, seeded []snomed.SeedResult)
	// NewDirectoryCache is the directory of services kept exact against
	// the store.
	NewDirectoryCache(d mapping.Directory, overlap time.Duration, now func() time.Time) *directory.Cache
	// CanonicalBase is the server's canonical base URL.
	CanonicalBase() string
	// RequestTimeout is every request's deadline (zero: unknown).
	RequestTimeout() time.Duration
	// Logger is the server's log.
	Logger() *slog.Logger
}

// GuardedTx is a store transaction as a caller may see and change it.
type GuardedTx interface {
	store.Tx
	// UpdateRead is an update of r over read, the current version of r
	// the caller read, If-Match read's version (a version changed
	// meanwhile fails the write as If-Match does).
	UpdateRead(ctx context.Context, r *fhir.Resource, read store.Version) (store.WriteResult, error)
}

// Service is care navigation, set up by New.
type Service struct {
	host      Host
	opts      Options
	names     mapping.NavigationNames
	engine    *mapping.Engine
	term      *snomed.Terminology
	directory *directory.Cache
	needs     mapping.NeedGroupSource
	history   mapping.ContactHistory

	// The decision's configuration, each derived once per stored
	// version (keyed by practice for protocols, "" for the others).
	protocols *vcache.Cache[string, practiceProtocol]
	lists     *vcache.Cache[string, *mapping.SafetyLists]
	lex       *vcache.Cache[string, *freetext.Lexicon]
	cmap      *vcache.Cache[string, *snomed.ConceptMap]

	mu sync.Mutex
	// unsettled is until when a write of the decision's configuration
	// (a protocol, ConceptMap or ValueSet) through this process may still
	// be committing: until then every decision reads it from the store.
	unsettled time.Time
}

// New sets up care navigation on host: it seeds the clinical lexicon
// and, with Options.DemoDir, the demonstration content. The host
// registers the write checks (CheckTask, CheckProtocol, CheckLexicon,
// Unsettle) and serves Navigate.
func New(ctx context.Context, host Host, opts Options) (*Service, error) {
	if opts.Terminology == nil {
		return nil, errors.New("navigation: a Terminology is required")
	}
	if opts.NeedGroupMaxAge <= 0 {
		opts.NeedGroupMaxAge = 365 * 24 * time.Hour
	}
	if opts.RepeatWindow <= 0 {
		opts.RepeatWindow = 28 * 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	base := host.CanonicalBase()
	engine := mapping.NewEngine(base)
	engine.Holidays = opts.Holidays
	nav := &Service{host: host, opts: opts, names: mapping.NewNavigationNames(base), engine: engine, term: opts.Terminology}
	nav.protocols = vcache.New[string, practiceProtocol](nav.fresh)
	nav.lists = vcache.New[string, *mapping.SafetyLists](nav.fresh)
	nav.lex = vcache.New[string, *freetext.Lexicon](nav.fresh)
	nav.cmap = vcache.New[string, *snomed.ConceptMap](nav.fresh)
	// The directory cache compares store timestamps, so it runs on the
	// wall clock whatever clock decisions use.
	nav.directory = host.NewDirectoryCache(engine.Directory, 2*time.Minute, time.Now)
	nav.needs = opts.NeedGroups
	if nav.needs == nil {
		nav.needs = &storedNeedGroups{nav: nav}
	}
	nav.history = &storedHistory{nav: nav}

	if err := nav.seedLexicon(ctx); err != nil {
		return nil, err
	}
	if opts.DemoDir != "" {
		if err := nav.seedDemo(ctx, opts.DemoDir); err != nil {
			return nil, fmt.Errorf("navigation demo: %w", err)
		}
	}
	return nav, nil
}

// Names are the navigation contract's code systems and names.
func (nav *Service) Names() mapping.NavigationNames { return nav.names }

// Terminology is the terminology decisions read.
func (nav *Service) Terminology() *snomed.Terminology { return nav.term }

// configRecheck is how long a decision uses the protocol, allocation
// ConceptMap and red-flag ValueSet it last read without asking the store
// whether they changed: three reads fewer per navigation. A change made
// through this process applies to the next decision (writes mark the
// cache unsettled); one made through another gateway process within
// configRecheck.
const configRecheck = time.Second

// fresh reports whether an entry checked against the store at checked
// may be used without checking again.
func (nav *Service) fresh(checked time.Time) bool {
	now := time.Now()
	nav.mu.Lock()
	defer nav.mu.Unlock()
	return !checked.IsZero() && now.Sub(checked) < configRecheck && now.After(nav.unsettled)
}

// Unsettle is the write check of the decision's configuration resources
// (PlanDefinition, ConceptMap, ValueSet): it never refuses, it makes
// decisions read them from the store until the write has surely
// committed or failed (the request timeout).
func (nav *Service) Unsettle(context.Context, *fhir.Resource, bool) ([]fhir.Issue, error) {
	window := nav.host.RequestTimeout()
	if window <= 0 {
		window = time.Minute
	}
	nav.mu.Lock()
	nav.unsettled = time.Now().Add(window)
	nav.mu.Unlock()
	return nil, nil
}

// practiceProtocol is a practice's compiled protocol (nil: none, or one
// that does not compile, which issues then say).
type practiceProtocol struct {
	protocol *mapping.Protocol
	issues   []fhir.Issue
}
