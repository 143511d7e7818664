// Package sealed keeps secrets (the header values the gateway sends
// receivers: Endpoint.header, Subscription.channel.header) encrypted at
// rest. A sealed value is "sealed:v1:" followed by the base64 (standard,
// unpadded) of a 12-byte random nonce and the AES-256-GCM ciphertext with
// its tag. The key comes from the operator (SIGNPOST_SECRETS_KEY) or,
// when none is configured, from the store's own key table, generated once
// and shared by every gateway on that store (see the README).
package sealed
