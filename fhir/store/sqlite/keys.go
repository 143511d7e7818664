package sqlite

import (
	"context"
	"fmt"
)

// SecretKey returns the key stored under name, storing fresh first when
// there is none (sealed.KeyStore).
func (s *Store) SecretKey(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	if _, err := s.w.ExecContext(ctx, "INSERT OR IGNORE INTO secret_keys (name, key) VALUES (?, ?)", name, fresh); err != nil {
		return nil, fmt.Errorf("sqlite: store key %s: %w", name, err)
	}
	var key []byte
	if err := s.w.QueryRowContext(ctx, "SELECT key FROM secret_keys WHERE name = ?", name).Scan(&key); err != nil {
		return nil, fmt.Errorf("sqlite: read key %s: %w", name, err)
	}
	return key, nil
}
