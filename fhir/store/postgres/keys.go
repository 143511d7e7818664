package postgres

import (
	"context"
	"fmt"
)

// SecretKey returns the key stored under name, storing fresh first when
// there is none (sealed.KeyStore). Of gateways starting together on one
// database, every one gets the key the first stored.
func (s *Store) SecretKey(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	if _, err := s.pool.Exec(ctx, "INSERT INTO secret_keys (name, key) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, fresh); err != nil {
		return nil, fmt.Errorf("postgres: store key %s: %w", name, err)
	}
	// A statement of its own: it sees the row whichever insert won.
	var key []byte
	if err := s.pool.QueryRow(ctx, "SELECT key FROM secret_keys WHERE name = $1", name).Scan(&key); err != nil {
		return nil, fmt.Errorf("postgres: read key %s: %w", name, err)
	}
	return key, nil
}
