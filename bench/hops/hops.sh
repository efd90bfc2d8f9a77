#!/usr/bin/env bash
# Counts what one `ota update` does at the system-call level: flock calls
# (locks taken) and reads of the journal (recoveries), for each binary given.
# Usage: bench/hops/hops.sh OTA_BINARY...   (needs strace)
set -euo pipefail
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
for bin in "$@"; do
  d="$w/$(basename "$bin")"; mkdir -p "$d/app" "$d/dev"
  "$bin" keygen "$d/keys" >/dev/null
  for i in 1 2; do
    echo "v$i" > "$d/app/main.py"
    "$bin" publish --src "$d/app" --ref "v$i" --out "$d/repo" --keys "$d/keys" >/dev/null
    if [ "$i" = 1 ]; then
      printf '{"source":"dir","path":"%s","target_dir":"%s","trusted_keys":["%s"]}' \
        "$d/repo" "$d/dev" "$(cat "$d/keys/root.pub")" > "$d/cfg.json"
      "$bin" --config "$d/cfg.json" update --now >/dev/null
    fi
  done
  strace -f -qq -e trace=flock,openat -o "$d/trace" "$bin" --config "$d/cfg.json" update --now >/dev/null
  locks=$(grep -c 'flock(.*LOCK_EX' "$d/trace" || true)
  journal=$(grep -c 'journal.json' "$d/trace" || true)
  trial=$(grep -c 'trial.json' "$d/trace" || true)
  printf '%-12s flock(LOCK_EX) %s   journal.json opens %s   trial.json opens %s\n' "$(basename "$bin")" "$locks" "$journal" "$trial"
done
