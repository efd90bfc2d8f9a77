package repo

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strconv"
)

// Payload types bound into every signature.
const (
	TypeRoot    = "application/vnd.ota.root+json"
	TypeRelease = "application/vnd.ota.release+json"
)

// Envelope is a signed payload. Signed holds the exact payload bytes
// (base64 in JSON); signatures cover PAE(PayloadType, Signed).
type Envelope struct {
	PayloadType string      `json:"payload_type"`
	Signed      []byte      `json:"signed"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one key's signature over an envelope.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"`
}

// PAE is DSSE's pre-authentication encoding: the bytes actually signed.
func PAE(payloadType string, payload []byte) []byte {
	b := make([]byte, 0, len(payload)+len(payloadType)+32)
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, ' ')
	return append(b, payload...)
}

// Sign makes an envelope over payload signed by every key in keys.
func Sign(payloadType string, payload []byte, keys ...PrivateKey) *Envelope {
	env := &Envelope{PayloadType: payloadType, Signed: payload}
	msg := PAE(payloadType, payload)
	for _, k := range keys {
		env.Signatures = append(env.Signatures, Signature{
			KeyID: k.Public().ID(),
			Sig:   ed25519.Sign(ed25519.PrivateKey(k), msg),
		})
	}
	return env
}

// SignJSON marshals v and signs the result.
func SignJSON(payloadType string, v any, keys ...PrivateKey) (*Envelope, error) {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return nil, err
	}
	return Sign(payloadType, b, keys...), nil
}

// keyInfo is a key allowed to sign, with the reason it may not count.
type keyInfo struct {
	key     PublicKey
	refused error // nil: counts
}

// verifyEnvelope checks env against keys and returns the verified payload.
// Rules: a signature by a known key that does not verify is refused outright
// (it can only be tampering); signatures by unknown, revoked or expired keys
// do not count; at least threshold distinct keys must have signed.
func verifyEnvelope(env *Envelope, wantType string, keys map[string]keyInfo, threshold int) ([]byte, error) {
	if env == nil {
		return nil, fmt.Errorf("%w: missing envelope", ErrMalformed)
	}
	if env.PayloadType != wantType {
		return nil, fmt.Errorf("%w: payload type %q, want %q", ErrMalformed, env.PayloadType, wantType)
	}
	if threshold < 1 {
		return nil, fmt.Errorf("%w: threshold %d must be at least 1", ErrMalformed, threshold)
	}
	msg := PAE(env.PayloadType, env.Signed)
	valid := map[string]bool{}
	var why error
	for _, s := range env.Signatures {
		k, ok := keys[s.KeyID]
		if !ok {
			if why == nil {
				why = fmt.Errorf("%w: key id %s", ErrUnknownKey, s.KeyID)
			}
			continue
		}
		if !ed25519.Verify(ed25519.PublicKey(k.key), msg, s.Sig) {
			return nil, fmt.Errorf("%w: by key %s", ErrBadSignature, s.KeyID)
		}
		if k.refused != nil {
			why = k.refused
			continue
		}
		valid[s.KeyID] = true
	}
	if len(valid) < threshold {
		if why != nil {
			return nil, fmt.Errorf("%w: %d of %d required signatures: %w", ErrThreshold, len(valid), threshold, why)
		}
		return nil, fmt.Errorf("%w: %d of %d required signatures", ErrThreshold, len(valid), threshold)
	}
	return env.Signed, nil
}
