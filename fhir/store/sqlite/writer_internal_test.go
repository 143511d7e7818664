package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/signpost-fhir/signpost/fhir"
	"github.com/signpost-fhir/signpost/fhir/store"
)

// holdWriter runs a write that blocks until release is closed, so the
// writes submitted meanwhile queue up and commit as one group after it.
func holdWriter(t *testing.T, s *Store) (release func(), done <-chan error) {
	t.Helper()
	started, hold := make(chan struct{}), make(chan struct{})
	out := make(chan error, 1)
	go func() {
		out <- s.write(context.Background(), func(*wtx) error {
			close(started)
			<-hold
			return nil
		})
	}()
	<-started
	return func() { close(hold) }, out
}

// waitPending waits until n writes are queued behind the held one.
func waitPending(s *Store, n int) {
	for {
		s.writer.mu.Lock()
		got := len(s.writer.pending)
		s.writer.mu.Unlock()
		if got >= n {
			return
		}
		runtime.Gosched()
	}
}

// codeOf is err's FHIR issue code, "" for another error.
func codeOf(err error) fhir.IssueCode {
	var fe *fhir.Error
	if errors.As(err, &fe) {
		return fe.Code()
	}
	return ""
}

func task(t *testing.T, id string) *fhir.Resource {
	t.Helper()
	r, err := fhir.ParseResource([]byte(`{"resourceType":"Task","id":"` + id + `","status":"requested","intent":"order"}`))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestGroupCommitKeepsEachWriteApart commits creates together with ones
// that fail (a duplicate id, a function returning an error after writing):
// each failure is answered with its own error and leaves nothing behind,
// every other write of the same group is committed and readable through
// the read-only connections by the time it is answered.
func TestGroupCommitKeepsEachWriteApart(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Create(ctx, task(t, "taken")); err != nil {
		t.Fatal(err)
	}

	release, held := holdWriter(t, s)
	const n = 12
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			switch i % 3 {
			case 0: // a duplicate
				_, errs[i] = s.Create(ctx, task(t, "taken"))
			case 1: // writes, then fails
				errs[i] = s.Transaction(ctx, func(tx store.Tx) error {
					if _, err := tx.Create(ctx, task(t, fmt.Sprintf("undone-%d", i))); err != nil {
						return err
					}
					return errors.New("changed its mind")
				})
			default:
				_, errs[i] = s.Create(ctx, task(t, fmt.Sprintf("kept-%d", i)))
				if errs[i] == nil {
					// Answered: already committed, so a reader sees it.
					if _, err := s.Read(ctx, "Task", fmt.Sprintf("kept-%d", i)); err != nil {
						errs[i] = fmt.Errorf("answered, but not readable: %w", err)
					}
				}
			}
		})
	}
	waitPending(s, n)
	release()
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		switch i % 3 {
		case 0:
			if codeOf(err) != fhir.CodeDuplicate {
				t.Errorf("write %d, a duplicate: %v, want a duplicate error", i, err)
			}
		case 1:
			if err == nil || !strings.Contains(err.Error(), "changed its mind") {
				t.Errorf("write %d: %v, want its own error", i, err)
			}
			if _, rerr := s.Read(ctx, "Task", fmt.Sprintf("undone-%d", i)); codeOf(rerr) != fhir.CodeNotFound {
				t.Errorf("write %d failed but its create is there: %v", i, rerr)
			}
		default:
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}
	}
}

// TestGroupCommitRerunsWhenTheGroupFails ends the group's transaction from
// inside one write (as an interrupted statement does in SQLite): that
// write fails, and the others of its group, which cannot commit with it,
// are run again alone and committed.
func TestGroupCommitRerunsWhenTheGroupFails(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	release, held := holdWriter(t, s)
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if i == 2 {
				errs[i] = s.write(ctx, func(tx *wtx) error {
					_, err := tx.ExecContext(ctx, "ROLLBACK")
					return err
				})
				return
			}
			_, errs[i] = s.Create(ctx, task(t, fmt.Sprintf("t-%d", i)))
		})
	}
	waitPending(s, n)
	release()
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if i == 2 {
			if err == nil {
				t.Errorf("the write that ended the transaction was answered with success")
			}
			continue
		}
		if err != nil {
			t.Errorf("write %d: %v", i, err)
			continue
		}
		if _, err := s.Read(ctx, "Task", fmt.Sprintf("t-%d", i)); err != nil {
			t.Errorf("write %d answered, but: %v", i, err)
		}
	}
}
