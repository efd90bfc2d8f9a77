#!/usr/bin/env bash
# Tree update benchmark (issue #5): bytes over the wire to update a device from
# lodash 4.17.20 (old) to 4.17.21 (new), whole package trees (~1,050 files),
# all measured in the same run:
#   - ota, signed static repository (ota keygen / ota publish --deltas 1) served
#     by a real nginx on 127.0.0.1: the default device config (deltas on, the
#     signed head.json and a manifest delta), full files
#     (enable_delta_updates: false), and nginx with gzip for JSON; then a
#     no-op check
#   - rsync over a local rsync daemon (and local-only runs for reference)
#   - git: fetch over git daemon, and the size of `git bundle create b v1..v2`
# Every network client talks to its server through bench/tcpcount, a counting
# TCP relay, so "wire bytes" is the TCP payload in both directions (requests
# and responses, headers included; no TCP/IP headers, no TLS) for every tool.
# After every update the device folder is compared with new/ (diff -r).
#
# Usage: bench/tree.sh > bench/results/tree.md
# (then re-add the hand-written notes at the end of the committed file)
# Needs: go, npm and tar (workloads), nginx, rsync, git, gzip, diff.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

die() {
  echo "tree.sh: $*" >&2
  exit 1
}
for t in go npm tar rsync git gzip diff cmp awk; do
  command -v "$t" >/dev/null || die "$t is required but not installed"
done
nginx=$(command -v nginx || true)
[[ -z $nginx && -x /usr/sbin/nginx ]] && nginx=/usr/sbin/nginx
[[ -n $nginx ]] || die "nginx is required but not installed (apt-get install nginx)"

work=bench-work
../shared/bench/get-workloads.sh "$work" >/dev/null 2>&1 || die "building the workloads failed (../shared/bench/get-workloads.sh $work)"
old=$repo/$work/lodash-tree/old
new=$repo/$work/lodash-tree/new
[[ -d $old && -d $new ]] || die "missing $old or $new"

tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
# nginx workers, rsyncd and git daemon may run as another user when started
# as root: let them read the temporary tree.
chmod 755 "$tmp"

go build -o "$tmp/ota" ./cmd/ota
go build -o "$tmp/tcpcount" ./bench/tcpcount
ota=$tmp/ota

# ---------------------------------------------------------------- helpers

# wait_port, start_relay, relay_mark, relay_sum, fmt.
# shellcheck source=bench/lib.sh
source "$repo/bench/lib.sh"

# same_as_new DIR: DIR equals new/ (ignoring ota's and git's own files).
same_as_new() {
  diff -r -x .ota -x .ota_stage -x .ota_backup -x version.json -x ota_error.json \
    -x ota_config.json -x .git "$new" "$1" >"$tmp/diff.out" 2>&1
}
check_new() { # LABEL DIR
  same_as_new "$2" || {
    head -20 "$tmp/diff.out" >&2
    die "$1: the device folder differs from new/"
  }
}

# ---------------------------------------------------------------- workload facts

files_old=$(find "$old" -type f | wc -l)
files_new=$(find "$new" -type f | wc -l)
changed=0 changed_bytes=0 changed_gz=0 added=0 deleted=0 samesize=0
while IFS= read -r -d '' f; do
  rel=${f#"$new"/}
  if [[ ! -f $old/$rel ]]; then
    added=$((added + 1)) changed_bytes=$((changed_bytes + $(stat -c %s "$f")))
    changed_gz=$((changed_gz + $(gzip -6 -c "$f" | wc -c)))
  elif ! cmp -s "$old/$rel" "$f"; then
    changed=$((changed + 1)) changed_bytes=$((changed_bytes + $(stat -c %s "$f")))
    changed_gz=$((changed_gz + $(gzip -6 -c "$f" | wc -c)))
    [[ $(stat -c %s "$f") == $(stat -c %s "$old/$rel") ]] && samesize=$((samesize + 1))
  fi
done < <(find "$new" -type f -print0)
while IFS= read -r -d '' f; do
  [[ -f $new/${f#"$old"/} ]] || deleted=$((deleted + 1))
done < <(find "$old" -type f -print0)
mtimes=$(find "$old" "$new" -type f -printf '%TY-%Tm-%Td\n' | sort -u | paste -sd, -)

# ---------------------------------------------------------------- ota: publish, nginx

keys=$tmp/keys
srv=$tmp/repo
"$ota" keygen "$keys" >/dev/null
"$ota" publish --src "$old" --ref v1 --out "$srv" --keys "$keys" --deltas 1 >"$tmp/publish1.out"
rootpub=$(<"$keys/root.pub")

ng=$tmp/nginx
mkdir -p "$ng"
port_plain=$("$tmp/tcpcount" freeport)
port_gzip=$("$tmp/tcpcount" freeport)
[[ $port_plain != "$port_gzip" ]] || port_gzip=$("$tmp/tcpcount" freeport)
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
    listen 127.0.0.1:$port_plain;
    root $srv;
    access_log $ng/plain.log bench;
  }
  server {
    listen 127.0.0.1:$port_gzip;
    root $srv;
    access_log $ng/gzip.log bench;
    gzip on;
    gzip_types application/json;
    gzip_comp_level 6;
  }
}
EOF
"$nginx" -p "$ng" -c "$ng/nginx.conf" -t >"$ng/test.out" 2>&1 || {
  cat "$ng/test.out" >&2
  die "nginx rejected its configuration"
}
"$nginx" -p "$ng" -c "$ng/nginx.conf" 2>"$ng/stderr" &
pids+=($!)
wait_port "$port_plain"
wait_port "$port_gzip"
start_relay ngplain "$port_plain"
relay_plain=$relay_port
start_relay nggzip "$port_gzip"
relay_gzip=$relay_port

# Devices: full files, deltas, deltas with gzip metadata. Each installs v1 (not
# counted) before v2 is published.
devices=(full delta gzip)
declare -A dev_relay=([full]=ngplain [delta]=ngplain [gzip]=nggzip)
declare -A dev_port=([full]=$relay_plain [delta]=$relay_plain [gzip]=$relay_gzip)
declare -A dev_log=([full]=plain [delta]=plain [gzip]=gzip)
declare -A dev_deltas=([full]=', "enable_delta_updates": false' [delta]= [gzip]=)
for d in "${devices[@]}"; do
  mkdir -p "$tmp/dev-$d"
  cat >"$tmp/dev-$d/ota_config.json" <<EOF
{"source": "http", "url": "http://127.0.0.1:${dev_port[$d]}/",
 "trusted_keys": ["$rootpub"]${dev_deltas[$d]}}
EOF
  "$ota" --config "$tmp/dev-$d/ota_config.json" --progress never update >"$tmp/dev-$d.install.out" 2>&1 ||
    {
      cat "$tmp/dev-$d.install.out" >&2
      die "ota: installing v1 on device $d failed"
    }
  diff -r -x .ota -x version.json -x ota_config.json -x ota_error.json "$old" "$tmp/dev-$d" >/dev/null ||
    die "ota: device $d does not hold old/ after installing v1"
done

"$ota" publish --src "$new" --ref v2 --out "$srv" --keys "$keys" --deltas 1 >"$tmp/publish2.out"
latest_bytes=$(stat -c %s "$srv/latest.json")
latest_gz=$(gzip -6 -c "$srv/latest.json" | wc -c)
head_bytes=$(stat -c %s "$srv/head.json")
man_new=$srv/manifests/$(ls -t "$srv/manifests" | head -1) # v2's, written after v1's
man_bytes=$(stat -c %s "$man_new")
man_gz=$(gzip -6 -c "$man_new" | wc -c)
mdelta_bytes=$(find "$srv/manifest-deltas" -type f -printf '%s\n' | awk '{s+=$1} END{print s+0}')
delta_objs=$(find "$srv/deltas" -type f | wc -l)
delta_bytes=$(find "$srv/deltas" -type f -printf '%s\n' | awk '{s+=$1} END{print s+0}')

declare -A wire_up wire_down conns ng_total ng_body ng_reqs ng_latest json_out
for d in "${devices[@]}"; do
  r=${dev_relay[$d]}
  mark=$(relay_mark "$r")
  log=$ng/${dev_log[$d]}.log
  before=$(wc -l <"$log")
  "$ota" --config "$tmp/dev-$d/ota_config.json" --progress never --json update >"$tmp/dev-$d.update.json" 2>"$tmp/dev-$d.update.err" ||
    {
      cat "$tmp/dev-$d.update.err" "$tmp/dev-$d.update.json" >&2
      die "ota: update on device $d failed"
    }
  relay_sum "$r" "$mark" >"$tmp/sum"
  read -r wire_up[$d] wire_down[$d] conns[$d] <"$tmp/sum"
  sleep 0.2 # nginx writes the access log line after the response
  read -r ng_reqs[$d] ng_total[$d] ng_body[$d] ng_latest[$d] < <(tail -n +"$((before + 1))" "$log" |
    awk '{n++; t+=$3; b+=$4} /GET \/(head\.json|latest\.json|manifest)/{l+=$4} END{printf "%d %d %d %d\n", n, t, b, l}')
  check_new "ota ($d)" "$tmp/dev-$d"
  tail -n +"$((before + 1))" "$log" >"$tmp/dev-$d.requests"
done
# The next check, nothing new: one conditional request answered 304.
mark=$(relay_mark ngplain)
before=$(wc -l <"$ng/plain.log")
"$ota" --config "$tmp/dev-delta/ota_config.json" --progress never --json check >"$tmp/noop.json" 2>"$tmp/noop.err" ||
  {
    cat "$tmp/noop.err" >&2
    die "ota: no-op check failed"
  }
relay_sum ngplain "$mark" >"$tmp/sum"
read -r noop_up noop_down noop_conns <"$tmp/sum"
sleep 0.2
tail -n +"$((before + 1))" "$ng/plain.log" >"$tmp/noop.requests"
noop_reqs=$(wc -l <"$tmp/noop.requests")

# ---------------------------------------------------------------- rsync

rs=$tmp/rsync
mkdir -p "$rs"
port_rsyncd=$("$tmp/tcpcount" freeport)
cat >"$rs/rsyncd.conf" <<EOF
pid file = $rs/rsyncd.pid
log file = $rs/rsyncd.log
use chroot = no
uid = $(id -u)
gid = $(id -g)
[lodash]
  path = $new
  read only = yes
EOF
rsync --daemon --no-detach --config="$rs/rsyncd.conf" --address=127.0.0.1 --port="$port_rsyncd" &
pids+=($!)
wait_port "$port_rsyncd"
start_relay rsyncd "$port_rsyncd"
relay_rsync=$relay_port

# rsync_run NAME WHERE OPTS...: device copy of old/ (mtimes kept, as after an
# rsync install of v1), then pull new/ from the daemon (WHERE=daemon) or from
# the local folder (WHERE=local). Sets rs_stats (sent+received), rs_up/down/conns
# (relay, daemon only) and rs_ok (device equals new/: yes/no).
declare -A rs_stats rs_up rs_down rs_conns rs_ok
rsync_run() {
  local name=$1 where=$2 src mark
  shift 2
  rm -rf "$rs/dev-$name"
  cp -a "$old" "$rs/dev-$name"
  if [[ $where == daemon ]]; then
    src=rsync://127.0.0.1:$relay_rsync/lodash/
    mark=$(relay_mark rsyncd)
  else
    src=$new/
  fi
  rsync "$@" --stats "$src" "$rs/dev-$name/" >"$rs/$name.out" 2>&1 || {
    cat "$rs/$name.out" >&2
    die "rsync $* failed"
  }
  rs_stats[$name]=$(awk '/^Total bytes sent:/{gsub(",", "", $4); s=$4} /^Total bytes received:/{gsub(",", "", $4); r=$4} END{print s+r}' "$rs/$name.out")
  if [[ $where == daemon ]]; then
    relay_sum rsyncd "$mark" >"$tmp/sum"
    read -r rs_up[$name] rs_down[$name] rs_conns[$name] <"$tmp/sum"
  fi
  if same_as_new "$rs/dev-$name"; then rs_ok[$name]=yes; else rs_ok[$name]="**no**: $(grep -c '^diff\|^Only' "$tmp/diff.out") files differ"; fi
}
rsync_run d_z daemon -a -z
rsync_run d_zc daemon -a -z -c
rsync_run d_zcW daemon -a -z -c -W
rsync_run d_c daemon -a -c
rsync_run l_noWz local -a --no-W -z
rsync_run l_noWzc local -a --no-W -z -c
rsync_run l_z local -a -z

# ---------------------------------------------------------------- git

g=$tmp/git
mkdir -p "$g/home"
export HOME=$g/home GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com \
  GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com GIT_AUTHOR_DATE=2026-01-01T00:00:00Z \
  GIT_COMMITTER_DATE=2026-01-01T00:00:00Z
git init -q -b main "$g/work"
cp -a "$old/." "$g/work/"
git -C "$g/work" add -A -f
git -C "$g/work" commit -q -m v1
git -C "$g/work" tag v1
git clone -q --bare "$g/work" "$g/srv.git"
port_git=$("$tmp/tcpcount" freeport)
git daemon --export-all --base-path="$g" --listen=127.0.0.1 --port="$port_git" --reuseaddr "$g" 2>"$g/daemon.log" &
pids+=($!)
wait_port "$port_git"
start_relay gitd "$port_git"
relay_git=$relay_port
git clone -q "git://127.0.0.1:$relay_git/srv.git" "$g/dev" # v1, not counted
git -C "$g/work" rm -q -r .
cp -a "$new/." "$g/work/"
git -C "$g/work" add -A -f
git -C "$g/work" commit -q -m v2
git -C "$g/work" tag v2
git -C "$g/work" push -q "$g/srv.git" main v2
git -C "$g/work" bundle create "$g/v1..v2.bundle" v1..v2 2>/dev/null
bundle_bytes=$(stat -c %s "$g/v1..v2.bundle")
mark=$(relay_mark gitd)
git -C "$g/dev" fetch -q origin 2>"$g/fetch.err" || {
  cat "$g/fetch.err" >&2
  die "git fetch failed"
}
relay_sum gitd "$mark" >"$tmp/sum"
read -r git_up git_down git_conns <"$tmp/sum"
git -C "$g/dev" merge -q --ff-only origin/main
check_new "git fetch" "$g/dev"
git_objects=$(git -C "$g/work" rev-list --objects v1..v2 | wc -l)

# ---------------------------------------------------------------- report

declare -a rows
row() { # label up down own requests ok
  rows+=("$1"$'\t'"$(($2 + $3))"$'\t'"$2"$'\t'"$3"$'\t'"$4"$'\t'"$5"$'\t'"$6")
}
for d in "${devices[@]}"; do
  label="ota, nginx, full files (\`enable_delta_updates: false\`)"
  [[ $d == delta ]] && label="ota, nginx, default device config (deltas v2)"
  [[ $d == gzip ]] && label="ota, nginx with \`gzip\` for JSON, default device config"
  row "$label" "${wire_up[$d]}" "${wire_down[$d]}" "nginx \$bytes_sent $(fmt "${ng_total[$d]}"), \$body_bytes_sent $(fmt "${ng_body[$d]}") (metadata: $(fmt "${ng_latest[$d]}"))" "${ng_reqs[$d]} HTTP requests, ${conns[$d]} TCP conn." yes
done
row "rsync daemon, \`-a -z\` (delta algorithm on: --no-W is the default over the network)" "${rs_up[d_z]}" "${rs_down[d_z]}" "--stats sent+received $(fmt "${rs_stats[d_z]}")" "${rs_conns[d_z]} TCP conn." "${rs_ok[d_z]}"
row "rsync daemon, \`-a -z -c\` (delta on, checksums instead of size+mtime)" "${rs_up[d_zc]}" "${rs_down[d_zc]}" "--stats sent+received $(fmt "${rs_stats[d_zc]}")" "${rs_conns[d_zc]} TCP conn." "${rs_ok[d_zc]}"
row "rsync daemon, \`-a -z -c -W\` (whole files)" "${rs_up[d_zcW]}" "${rs_down[d_zcW]}" "--stats sent+received $(fmt "${rs_stats[d_zcW]}")" "${rs_conns[d_zcW]} TCP conn." "${rs_ok[d_zcW]}"
row "rsync daemon, \`-a -c\` (delta on, no compression)" "${rs_up[d_c]}" "${rs_down[d_c]}" "--stats sent+received $(fmt "${rs_stats[d_c]}")" "${rs_conns[d_c]} TCP conn." "${rs_ok[d_c]}"
row "git fetch over git daemon (protocol v2, thin pack)" "$git_up" "$git_down" "\`git bundle create b v1..v2\`: $(fmt "$bundle_bytes") B" "${git_conns} TCP conn." yes

smallest=
for r in "${rows[@]}"; do
  IFS=$'\t' read -r _ w _ _ _ _ ok <<<"$r"
  [[ $ok == yes ]] || continue
  if [[ -z $smallest || $w -lt $smallest ]]; then smallest=$w; fi
done

echo "# Tree update benchmark: lodash 4.17.20 → 4.17.21"
echo
echo "Command: \`bench/tree.sh > bench/results/tree.md\` (run $(date -u +%Y-%m-%dT%H:%MZ), $(go version | cut -d' ' -f3),"
echo "$(nginx_v=$("$nginx" -v 2>&1); echo "${nginx_v#nginx version: }"), $(rsync --version | head -1 | awk '{print "rsync " $3}'), $(git --version)). One run; byte counts are deterministic up to"
echo "a few bytes of dates and ports in headers."
echo
echo "Workload (\`../shared/bench/get-workloads.sh\`, lodash-tree): $(fmt "$files_old") → $(fmt "$files_new") files; $changed changed, $added added,"
echo "$deleted deleted; the $((changed + added)) changed or added files hold **$(fmt "$changed_bytes") B** in full ($(fmt "$changed_gz") B gzip -6 file by file). File mtimes in both trees: $mtimes"
echo "(npm tarballs give every file the same one); $samesize changed files keep their size."
echo
echo "**Wire bytes** = TCP payload in both directions (requests and responses, headers included, no TCP/IP"
echo "headers), counted by a relay (\`bench/tcpcount\`) between the device-side client and the server. Every"
echo "device starts from a complete copy of old/ made by the same tool (not counted); after the update it is"
echo "compared with new/ by \`diff -r\` (ignoring ota's own files and \`.git\`). Ratio = wire bytes / smallest"
echo "wire bytes among the correct rows."
echo
echo "| tool | wire bytes | ratio | device → server / server → device | tool's own count | requests / connections | device equals new/ |"
echo "|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do
  IFS=$'\t' read -r label w up down own req ok <<<"$r"
  ratio=$(awk -v a="$w" -v b="$smallest" 'BEGIN { printf "%.2f", a / b }')
  echo "| $label | $(fmt "$w") | $ratio | $(fmt "$up") / $(fmt "$down") | $own | $req | $ok |"
done
echo
echo "Without a network (both folders local, \`--stats\` sent + received; rsync defaults to whole files locally):"
echo
echo "| rsync, local | --stats sent+received | device equals new/ |"
echo "|---|---|---|"
echo "| \`-a --no-W -z\` (the shared README's setup) | $(fmt "${rs_stats[l_noWz]}") | ${rs_ok[l_noWz]} |"
echo "| \`-a --no-W -z -c\` | $(fmt "${rs_stats[l_noWzc]}") | ${rs_ok[l_noWzc]} |"
echo "| \`-a -z\` (whole files) | $(fmt "${rs_stats[l_z]}") | ${rs_ok[l_z]} |"
echo
echo "ota's metadata for this update (default device config): the signed \`head.json\`, **$(fmt "$head_bytes") B**, and a"
echo "manifest delta from the manifest the device kept, **$(fmt "$mdelta_bytes") B**. The whole manifest (binary, all $(fmt "$files_new") files) is"
echo "$(fmt "$man_bytes") B ($(fmt "$man_gz") B gzip -6), fetched only by a device without a usable base; the old-format \`latest.json\`, still"
echo "written for agents before heads (\`--legacy-latest\`), is $(fmt "$latest_bytes") B ($(fmt "$latest_gz") B gzip -6) and no longer read by this agent."
echo "The v2 publish wrote $delta_objs file deltas, $(fmt "$delta_bytes") B in all. git: $git_objects objects in v1..v2."
echo
echo "No-op check right after the update (\`ota check\`, default config): $noop_reqs HTTP request(s), $(fmt "$((noop_up + noop_down))") wire bytes:"
echo
echo '```'
cat "$tmp/noop.requests"
echo '```'
echo
echo "Requests of the delta update (nginx access log: connection, status, \$bytes_sent, \$body_bytes_sent, request):"
echo
echo '```'
sed -E 's/[0-9a-f]{64}/…/g' "$tmp/dev-delta.requests"
echo '```'
echo
echo "ota's own report of the delta update (\`ota --json update\`):"
echo
echo '```json'
cat "$tmp/dev-delta.update.json"
echo '```'
