package carerecord

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A caller waiting for a token that another caller is fetching gives up
// when its own context ends, not when the other's HTTP call does; the
// fetch is shared, and the token it brings serves everyone.
func TestTokenWaitersAreBoundByTheirOwnContext(t *testing.T) {
	release := make(chan struct{})
	var grants atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := grants.Add(1)
		<-release
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":3600}`, n)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	ts := &tokenSource{tokenURL: srv.URL, clientID: "c", clientSecret: "s", http: srv.Client(), now: time.Now}

	first := make(chan string, 1)
	go func() {
		tok, err := ts.Token(context.Background())
		if err != nil {
			tok = err.Error()
		}
		first <- tok
	}()
	for grants.Load() == 0 {
		time.Sleep(time.Millisecond)
	}

	// The second caller's context ends while the grant is under way.
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := ts.Token(ctx)
		second <- err
	}()
	cancel()
	select {
	case err := <-second:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(30 * time.Second):
		t.Fatal("the second caller waited for the first caller's token call")
	}

	// A third caller waits for the same grant and gets its token.
	third := make(chan string, 1)
	go func() {
		tok, err := ts.Token(context.Background())
		if err != nil {
			tok = err.Error()
		}
		third <- tok
	}()
	close(release)
	assert.Equal(t, "tok-1", <-first)
	assert.Equal(t, "tok-1", <-third)
	assert.EqualValues(t, 1, grants.Load(), "one grant for all callers")
}
