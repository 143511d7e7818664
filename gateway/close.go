package gateway

// onClose registers fn to run when the server is closed.
func (s *Server) onClose(fn func()) { s.closers = append(s.closers, fn) }

// Close stops what the server runs in the background (the directory
// caches' queued checks) and waits for it to end. Call it once the HTTP
// server has shut down; the Server is not used after. Closing twice is
// harmless.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		for i := len(s.closers) - 1; i >= 0; i-- {
			s.closers[i]()
		}
	})
}
