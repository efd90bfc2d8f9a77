// Package repo defines the signed static update repository: its on-disk
// layout, its metadata, its keys and the client-side verification.
//
// Trust model (modelled on TUF and tailscale's distsign, deliberately small):
//
//   - Offline root keys (Ed25519) sign a Root document (the delegation). It
//     lists the online signing keys with their expiry, the signing keys that
//     are revoked, and how many signing-key signatures release metadata needs
//     (Threshold). Devices hold only the root public keys ("trusted_keys").
//   - Online signing keys sign Release metadata: version, git ref and commit,
//     creation and expiry time, the complete file list, the available deltas
//     and an optional rollout policy.
//   - Every signed document travels in an Envelope whose signatures cover the
//     exact payload bytes (DSSE pre-authentication encoding, so a payload of
//     one type can never be passed off as another). Payloads are verified
//     before they are parsed and are never re-serialised.
//   - A HeadBundle (head.json) carries the root envelope and a small signed
//     Head: version, expiry, rollout and the SHA-256 and size of the
//     manifest, the binary file list (EncodeManifest). A check is one
//     request (one 304 when nothing changed); a new version costs the head
//     and a delta of the manifest the device already holds (or the whole
//     manifest), verified against the head before it is parsed. Packs carry
//     the small files of an update in one request (PackItems).
//   - A Bundle (latest.json, metadata/<version>.json) carries the root
//     envelope and a release envelope with the whole file list: the format
//     before heads, still written for older agents and read by new ones.
//
// Key id = lowercase hex SHA-256 of the raw 32-byte Ed25519 public key.
//
// Repository layout (all paths relative to the repository root):
//
//	head.json                                 HeadBundle of the newest version (replaced last, atomically)
//	manifests/<sha256>                        manifest of a version (immutable)
//	manifest-deltas/<from>-<to>.v2            delta between two manifests (immutable)
//	packs/<sha256>                            deltas and objects of one update, concatenated (immutable)
//	latest.json                               Bundle of the newest version (while older agents remain)
//	metadata/<version>.json                   Bundle of every published version (immutable)
//	objects/<sha256[:2]>/<sha256>             file contents, content-addressed (immutable)
//	deltas/<from-sha256>-<to-sha256>.<format> patches between blobs (immutable)
//
// Key directory layout (written by "ota keygen", read by "ota publish"):
//
//	root.key, root.pub         offline root key pair (keep root.key offline)
//	signing.key, signing.pub   online signing key pair (more: signing-*.key)
//	root.json                  the Root envelope signed by root.key
//
// *.pub files hold one line "ed25519:<base64 public key>", the same string a
// device lists in trusted_keys. *.key files are PEM blocks of type
// "OTA ED25519 PRIVATE KEY" holding the 32-byte seed, mode 0600.
package repo
