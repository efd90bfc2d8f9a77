"""A model of the original MicroPython client (0x687931/ota, ota.py), written
from ../shared/reference/seed-system.md, to test what `ota publish --format
seed` serves it. CPython 3 only; no network: "raw" is a folder standing for
raw.githubusercontent.com/<owner>/<repo>/<tag>/.

usage: seed_client.py manifest KEY RAW DEVICE MANIFEST COMMIT
       seed_client.py manifestless RAW DEVICE TREE_JSON REF COMMIT
prints a JSON summary on stdout; exits non-zero on the errors the original
raises.
"""
import hashlib, hmac, json, os, sys

MAX_COPY_SIZE, MAX_INSERT_SIZE = 4096, 2048  # delta.py


class OTAError(Exception):
    pass


def normalize(rel):  # _normalize_path, 994-1000
    if rel.startswith("/") or any(p in ("", ".", "..") for p in rel.split("/")):
        raise OTAError("invalid path: " + rel)
    return rel


def git_blob_sha1(data):
    return hashlib.sha1(b"blob " + str(len(data)).encode() + b"\0" + data).hexdigest()


def write_state(device, ref, commit):  # _write_state: json.dump default separators
    with open(os.path.join(device, "version.json"), "w") as f:
        json.dump({"ref": ref, "commit": commit}, f)


def install(device, staged):
    for rel, data in staged.items():
        p = os.path.join(device, rel)
        os.makedirs(os.path.dirname(p) or device, exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)


def manifest_mode(key, raw, device, manifest_path, commit):  # 1509-1608
    with open(manifest_path, "rb") as f:
        manifest = json.loads(f.read())
    sig = manifest.get("signature")
    if not sig:
        raise OTAError("manifest missing signature")
    body = dict(manifest)
    body.pop("signature")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    if not hmac.compare_digest(hmac.new(key.encode("utf-8"), canonical, hashlib.sha256).hexdigest(), sig):
        raise OTAError("manifest signature mismatch")
    staged = {}
    for entry in manifest.get("files", []):
        rel = normalize(entry["path"])
        if any(part.startswith(".") and part not in (".ota_stage", ".ota_backup") for part in rel.split("/")):
            raise OTAError("Security violation: hidden directory in path")
        with open(os.path.join(raw, rel), "rb") as f:
            data = f.read()
        if "size" in entry and len(data) != entry["size"]:
            raise OTAError("size mismatch for " + rel)
        if "sha256" in entry and hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise OTAError("sha256 mismatch after write for " + rel)
        staged[rel] = data
    deletes = []
    for d in manifest.get("deletes", []) or []:
        try:
            deletes.append(normalize(d))
        except OTAError:
            pass
    install(device, staged)  # stage_and_swap: files, then deletes
    deleted = []
    for d in deletes:
        p = os.path.join(device, d)
        if os.path.exists(p):
            os.remove(p)
            deleted.append(d)
    write_state(device, manifest.get("version"), commit)
    return {"files": len(staged), "deleted": deleted}


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def byte(self, what):
        if self.pos >= len(self.data):
            raise OTAError("Unexpected EOF reading " + what)
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self):
        v = shift = 0
        for i in range(5):
            b = self.byte("varint")
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7
        raise OTAError("Varint too large")

    def take(self, n):
        if self.pos + n > len(self.data):
            raise OTAError("Unexpected EOF reading %d bytes" % n)
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b


def apply_delta(old, patch):  # delta.py apply_delta, streaming mode
    r = Reader(patch)
    if r.take(8) != b"OTADELTA":
        raise OTAError("Invalid delta magic")
    v = r.byte("version")
    if v != 1:
        raise OTAError("Unsupported delta version: %d" % v)
    out = bytearray()
    while True:
        op = r.byte("opcode")
        if op == 0xFF:
            return bytes(out)
        if op == 0x01:
            off, n = r.varint(), r.varint()
            if n > MAX_COPY_SIZE:
                raise OTAError("Copy size too large: %d" % n)
            if off + n > len(old):
                raise OTAError("Unexpected EOF in old file")
            out += old[off:off + n]
        elif op == 0x02:
            n = r.varint()
            if n > MAX_INSERT_SIZE:
                raise OTAError("Insert size too large: %d" % n)
            out += r.take(n)
        else:
            raise OTAError("Unknown opcode: 0x%02x" % op)


def manifestless_mode(raw, device, tree_json, ref, commit):  # 4.1, 4.5, 5.6
    with open(tree_json) as f:
        tree = json.load(f)
    staged, deltas, delta_failed = {}, [], []
    for e in tree:
        if e["type"] != "blob" or int(e["size"]) == 0:
            continue  # zero-byte files are never installed
        rel = normalize(e["path"])
        live = os.path.join(device, rel)
        data = None
        if os.path.exists(live):
            # raw/<ref>/.deltas/<path with "/" -> "_">.delta
            dpath = os.path.join(raw, ".deltas", rel.replace("/", "_") + ".delta")
            if os.path.exists(dpath):
                try:
                    with open(live, "rb") as f:
                        old = f.read()
                    with open(dpath, "rb") as f:
                        out = apply_delta(old, f.read())
                    if git_blob_sha1(out) != e["sha"]:
                        raise OTAError("Delta resulted in incorrect hash")
                    data = out
                    deltas.append(rel)
                except OTAError as err:
                    delta_failed.append("%s: %s" % (rel, err))
        if data is None:
            with open(os.path.join(raw, rel), "rb") as f:
                data = f.read()
            if git_blob_sha1(data) != e["sha"]:
                raise OTAError("hash mismatch for " + rel)
        staged[rel] = data
    install(device, staged)  # no deletes in this mode
    write_state(device, ref, commit)
    return {"files": len(staged), "deltas": deltas, "delta_failed": delta_failed}


if __name__ == "__main__":
    try:
        if sys.argv[1] == "manifest":
            res = manifest_mode(*sys.argv[2:7])
        else:
            res = manifestless_mode(*sys.argv[2:7])
    except OTAError as err:
        print("OTA update failed: %s" % err, file=sys.stderr)
        sys.exit(3)
    print(json.dumps(res))
