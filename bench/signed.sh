#!/usr/bin/env bash
# Signed repository, three versions (issue #11): a device on v1 updates to v3
# with the default device config, while v2 and v3 are published. Workload:
# lodash 4.17.19 (v1) → 4.17.20 (v2) → 4.17.21 (v3), whole npm package trees
# (~1,050 files each; npm is the only network use). Publisher defaults
# (ota publish: --deltas 3, --manifest-deltas 16), served by nginx on
# 127.0.0.1 (no gzip). Measured in the same run: wire bytes through
# bench/tcpcount (TCP payload both ways, headers included) for ota and for
# `git fetch` over git daemon, and the size of `git bundle create b v1..v3`.
# The device folder is compared with v3 after the update; then a no-op check.
#
# Usage: bench/signed.sh > bench/results/signed.md
# Needs: go, npm, tar, nginx, git, diff.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
die() {
  echo "signed.sh: $*" >&2
  exit 1
}
for t in go npm tar git diff awk; do
  command -v "$t" >/dev/null || die "$t is required but not installed"
done
nginx=$(command -v nginx || true)
[[ -z $nginx && -x /usr/sbin/nginx ]] && nginx=/usr/sbin/nginx
[[ -n $nginx ]] || die "nginx is required but not installed (apt-get install nginx)"

work=$repo/bench-work
../shared/bench/get-workloads.sh "$work" >/dev/null 2>&1 || die "building the workloads failed (../shared/bench/get-workloads.sh $work)"
v2=$work/lodash-tree/old # 4.17.20
v3=$work/lodash-tree/new # 4.17.21
v1=$work/lodash-4.17.19
if [[ ! -d $v1 ]]; then
  t=$(mktemp -d)
  (cd "$t" && npm pack --silent lodash@4.17.19 >/dev/null) || die "npm pack lodash@4.17.19 failed"
  mkdir -p "$v1"
  tar -xzf "$t/lodash-4.17.19.tgz" -C "$v1" --strip-components=1
  rm -rf "$t"
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
chmod 755 "$tmp"
go build -o "$tmp/ota" ./cmd/ota
go build -o "$tmp/tcpcount" ./bench/tcpcount
ota=$tmp/ota

# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"
same_as() { # TREE DIR
  diff -r -x .ota -x .ota_stage -x .ota_backup -x version.json -x ota_error.json -x ota_config.json -x .git "$1" "$2" >"$tmp/diff.out" 2>&1 || {
    head -20 "$tmp/diff.out" >&2
    die "$2 differs from $1"
  }
}

# Workload facts, v1 → v3.
files=(0 0 0)
for i in 1 2 3; do
  d=v$i
  files[$((i - 1))]=$(find "${!d}" -type f | wc -l)
done
changed=0 added=0 deleted=0 changed_bytes=0
while IFS= read -r -d '' f; do
  rel=${f#"$v3"/}
  if [[ ! -f $v1/$rel ]]; then
    added=$((added + 1)) changed_bytes=$((changed_bytes + $(stat -c %s "$f")))
  elif ! cmp -s "$v1/$rel" "$f"; then
    changed=$((changed + 1)) changed_bytes=$((changed_bytes + $(stat -c %s "$f")))
  fi
done < <(find "$v3" -type f -print0)
while IFS= read -r -d '' f; do
  [[ -f $v3/${f#"$v1"/} ]] || deleted=$((deleted + 1))
done < <(find "$v1" -type f -print0)

# ota: keys, v1, nginx, devices on v1.
keys=$tmp/keys srv=$tmp/repo
"$ota" keygen "$keys" >/dev/null
"$ota" publish --src "$v1" --ref v1 --out "$srv" --keys "$keys" >/dev/null
rootpub=$(<"$keys/root.pub")
ng=$tmp/nginx
mkdir -p "$ng"
port=$("$tmp/tcpcount" freeport)
user_line=
[[ $(id -u) == 0 ]] && user_line="user root;"
cat >"$ng/nginx.conf" <<EOF
$user_line
worker_processes 1;
daemon off;
pid $ng/nginx.pid;
error_log $ng/error.log;
events { worker_connections 256; }
http {
  types { application/json json; }
  default_type application/octet-stream;
  client_body_temp_path $ng/client_body;
  proxy_temp_path $ng/proxy;
  fastcgi_temp_path $ng/fastcgi;
  uwsgi_temp_path $ng/uwsgi;
  scgi_temp_path $ng/scgi;
  sendfile on;
  keepalive_timeout 65;
  log_format bench '\$connection \$status \$bytes_sent \$body_bytes_sent "\$request"';
  server {
    listen 127.0.0.1:$port;
    root $srv;
    access_log $ng/access.log bench;
  }
}
EOF
"$nginx" -p "$ng" -c "$ng/nginx.conf" 2>"$ng/stderr" &
pids+=($!)
wait_port "$port"
start_relay ng "$port"
relay=$relay_port
devices=(default full)
declare -A extra=([default]= [full]=', "enable_delta_updates": false')
for d in "${devices[@]}"; do
  mkdir -p "$tmp/dev-$d"
  cat >"$tmp/dev-$d/ota_config.json" <<EOF
{"source": "http", "url": "http://127.0.0.1:$relay/", "trusted_keys": ["$rootpub"]${extra[$d]}}
EOF
  "$ota" --config "$tmp/dev-$d/ota_config.json" --progress never update >"$tmp/dev-$d.install" 2>&1 || {
    cat "$tmp/dev-$d.install" >&2
    die "installing v1 on $d failed"
  }
  same_as "$v1" "$tmp/dev-$d"
done
"$ota" publish --src "$v2" --ref v2 --out "$srv" --keys "$keys" >/dev/null
"$ota" publish --src "$v3" --ref v3 --out "$srv" --keys "$keys" >/dev/null

declare -A up down conns reqs
for d in "${devices[@]}"; do
  mark=$(relay_mark ng)
  before=$(wc -l <"$ng/access.log")
  "$ota" --config "$tmp/dev-$d/ota_config.json" --progress never --json update >"$tmp/dev-$d.json" 2>"$tmp/dev-$d.err" || {
    cat "$tmp/dev-$d.err" >&2
    die "update on $d failed"
  }
  relay_sum ng "$mark" >"$tmp/sum"
  read -r up[$d] down[$d] conns[$d] <"$tmp/sum"
  sleep 0.2
  tail -n +"$((before + 1))" "$ng/access.log" >"$tmp/dev-$d.requests"
  reqs[$d]=$(wc -l <"$tmp/dev-$d.requests")
  same_as "$v3" "$tmp/dev-$d"
done
mark=$(relay_mark ng)
before=$(wc -l <"$ng/access.log")
"$ota" --config "$tmp/dev-default/ota_config.json" --progress never --json check >"$tmp/noop.json" 2>&1 || die "no-op check failed"
relay_sum ng "$mark" >"$tmp/sum"
read -r noop_up noop_down _ <"$tmp/sum"
sleep 0.2
tail -n +"$((before + 1))" "$ng/access.log" >"$tmp/noop.requests"

# git: three commits, fetch v1 → v3 over git daemon, and the bundle.
g=$tmp/git
mkdir -p "$g/home"
export HOME=$g/home GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com \
  GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com GIT_AUTHOR_DATE=2026-01-01T00:00:00Z \
  GIT_COMMITTER_DATE=2026-01-01T00:00:00Z
git init -q -b main "$g/work"
for i in 1 2 3; do
  d=v$i
  git -C "$g/work" rm -q -r --ignore-unmatch . >/dev/null
  cp -a "${!d}/." "$g/work/"
  git -C "$g/work" add -A -f
  git -C "$g/work" commit -q -m "v$i"
  git -C "$g/work" tag "v$i"
  if [[ $i == 1 ]]; then
    git clone -q --bare "$g/work" "$g/srv.git"
    gport=$("$tmp/tcpcount" freeport)
    git daemon --export-all --base-path="$g" --listen=127.0.0.1 --port="$gport" --reuseaddr "$g" 2>"$g/daemon.log" &
    pids+=($!)
    wait_port "$gport"
    start_relay gitd "$gport"
    git clone -q "git://127.0.0.1:$relay_port/srv.git" "$g/dev"
  fi
done
git -C "$g/work" push -q "$g/srv.git" main v2 v3
git -C "$g/work" bundle create "$g/b" v1..v3 2>/dev/null
bundle=$(stat -c %s "$g/b")
mark=$(relay_mark gitd)
git -C "$g/dev" fetch -q origin
relay_sum gitd "$mark" >"$tmp/sum"
read -r git_up git_down git_conns <"$tmp/sum"
git -C "$g/dev" merge -q --ff-only origin/main
same_as "$v3" "$g/dev"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "# Signed repository, v1 installed, v2 and v3 published, one update v1 → v3"
echo
echo "Command: \`bench/signed.sh > bench/results/signed.md\` (run $(date -u +%Y-%m-%dT%H:%MZ), $(go version | cut -d' ' -f3),"
echo "$(nginx_v=$("$nginx" -v 2>&1); echo "${nginx_v#nginx version: }"), $(git --version)). One run; byte counts are deterministic up to a few bytes of dates and ports."
echo
echo "Workload: lodash 4.17.19 (v1) → 4.17.20 (v2) → 4.17.21 (v3) from npm, $(fmt "${files[0]}") / $(fmt "${files[1]}") / $(fmt "${files[2]}") files."
echo "v1 → v3: $changed changed, $added added, $deleted deleted; the changed and added files hold $(fmt "$changed_bytes") B in full."
echo "Publisher: \`ota publish\` defaults (\`--deltas 3 --manifest-deltas 16\`), nginx without gzip. Device: \`{\"source\": \"http\", \"url\", \"trusted_keys\"}\`"
echo "(the default config: deltas on). Wire bytes = TCP payload both ways through \`bench/tcpcount\`, headers included."
echo "Every device folder is compared with v3 by \`diff -r\` after the update."
echo
echo "| v1 → v3 | wire bytes | / git bundle | / git fetch | HTTP requests (TCP conn.) |"
echo "|---|---|---|---|---|"
for d in "${devices[@]}"; do
  w=$((up[$d] + down[$d]))
  label="ota, default device config"
  [[ $d == full ]] && label="ota, \`enable_delta_updates: false\`"
  echo "| $label | $(fmt "$w") | $(ratio "$w" "$bundle") | $(ratio "$w" "$((git_up + git_down))") | ${reqs[$d]} (${conns[$d]}) |"
done
echo "| \`git fetch\` over git daemon (thin pack) | $(fmt "$((git_up + git_down))") | $(ratio "$((git_up + git_down))" "$bundle") | 1.00 | ($git_conns) |"
echo "| \`git bundle create b v1..v3\` (file size) | $(fmt "$bundle") | 1.00 | | |"
echo
echo "No-op check after the update (\`ota check\`): $(wc -l <"$tmp/noop.requests") request(s), $(fmt "$((noop_up + noop_down))") wire bytes:"
echo
echo '```'
cat "$tmp/noop.requests"
echo '```'
echo
echo "Requests of the default device's update (nginx: connection, status, \$bytes_sent, \$body_bytes_sent, request):"
echo
echo '```'
sed -E 's/[0-9a-f]{64}/…/g' "$tmp/dev-default.requests"
echo '```'
echo
echo "ota's report of that update (\`ota --json update\`):"
echo
echo '```json'
cat "$tmp/dev-default.json"
echo '```'
