#!/usr/bin/env bash
# Delta benchmark: ota delta v2 and v1 against bsdiff 4.3, xdelta3 -9 and
# zstd -19 --long=31 --patch-from on the shared workloads (fw, gobin, tsjs),
# plus a synthetic 64 MiB pair (generation cost) and 1 MiB vs 256 MiB pairs
# (apply memory must not grow with file size).
#
# Usage: bench/delta.sh [--quick] > bench/results/delta.md
#   --quick  skip the 64 MiB and 256 MiB pairs
# Needs: go, npm, tar (workloads), bsdiff/bspatch, xdelta3, zstd, GNU time.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
quick=0
[[ ${1:-} == --quick ]] && quick=1

work=bench-work
out=$work/delta
mkdir -p "$out" bin
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o bin/ota ./cmd/ota # as shipped
../shared/bench/get-workloads.sh "$work" >/dev/null 2>&1
tf=$(mktemp)
trap 'rm -f "$tf"' EXIT

# measure CMD...: run under GNU time; sets secs and kib (max RSS).
measure() {
  if ! /usr/bin/time -f "%e %M" -o "$tf" "$@" >/dev/null 2>"$out/stderr"; then
    echo "command failed: $*" >&2
    cat "$out/stderr" >&2
    exit 1
  fi
  read -r secs kib <"$tf"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

tools=(v2 v1 bsdiff xdelta3 zstd)
gen() { # tool old new patch
  case $1 in
    v2 | v1) measure bin/ota delta diff "$2" "$3" "$4" --format "$1" ;;
    bsdiff) measure bsdiff "$2" "$3" "$4" ;;
    xdelta3) measure xdelta3 -e -9 -f -s "$2" "$3" "$4" ;;
    zstd) measure zstd -q -f -19 --long=31 --patch-from="$2" "$3" -o "$4" ;;
  esac
}
app() { # tool old patch out
  case $1 in
    v2 | v1) measure bin/ota delta apply "$2" "$3" "$4" ;;
    bsdiff) measure bspatch "$2" "$4" "$3" ;;
    xdelta3) measure xdelta3 -d -f -s "$2" "$3" "$4" ;;
    zstd) measure zstd -q -f -d --long=31 --patch-from="$2" "$3" -o "$4" ;;
  esac
}

declare -A size gsec gkib asec akib
run_pair() { # name old new [tools...]
  local name=$1 old=$2 new=$3 t
  shift 3
  for t in "$@"; do
    gen "$t" "$old" "$new" "$out/$name.$t"
    gsec[$name.$t]=$secs gkib[$name.$t]=$kib
    size[$name.$t]=$(stat -c %s "$out/$name.$t")
    app "$t" "$old" "$out/$name.$t" "$out/$name.$t.out"
    asec[$name.$t]=$secs akib[$name.$t]=$kib
    if ! cmp -s "$out/$name.$t.out" "$new"; then
      echo "$t: output for $name differs from the new file" >&2
      exit 1
    fi
    rm -f "$out/$name.$t.out"
  done
}

echo "# Delta benchmark"
echo
echo "Command: \`bench/delta.sh$([[ $quick == 1 ]] && echo " --quick")\` (run $(date -u +%Y-%m-%dT%H:%MZ), $(go version | cut -d' ' -f3),"
echo "$(nproc) cores shared with other jobs, so times are rough). Every patch was applied and the output compared with \`cmp\`."
echo "Ratio = patch size / smallest patch of the *other* tools on the same pair (< 1.00 means this tool wins)."
echo "RSS = peak resident set (GNU time %M); the Go CLI's baseline (runtime + cobra, doing nothing) is about 5 MiB."
echo
echo "| pair | old → new bytes | tool | patch bytes | ratio | gen s | gen MiB | apply s | apply MiB |"
echo "|---|---|---|---|---|---|---|---|---|"
for p in fw gobin tsjs; do
  run_pair "$p" "$work/$p.old" "$work/$p.new" "${tools[@]}"
  for t in "${tools[@]}"; do
    best=
    for u in "${tools[@]}"; do
      [[ $u == "$t" ]] && continue
      if [[ -z $best || ${size[$p.$u]} -lt $best ]]; then best=${size[$p.$u]}; fi
    done
    ratio=$(awk -v a="${size[$p.$t]}" -v b="$best" 'BEGIN { printf "%.2f", a / b }')
    label=$t
    case $t in
      v2 | v1) label="ota delta $t" ;;
      xdelta3) label="xdelta3 -9" ;;
      zstd) label="zstd -19 --long=31 --patch-from" ;;
    esac
    echo "| $p | $(stat -c %s "$work/$p.old") → $(stat -c %s "$work/$p.new") | $label | ${size[$p.$t]} | $ratio | ${gsec[$p.$t]} | $(mib "${gkib[$p.$t]}") | ${asec[$p.$t]} | $(mib "${akib[$p.$t]}") |"
  done
done

[[ $quick == 1 ]] && exit 0

echo
echo "## Synthetic 64 MiB pair: generation cost"
echo
echo "Random data with a small edit every ~64 KiB (\`go run ./bench/genpair 64 OLD NEW\`)."
echo
go run ./bench/genpair 64 "$out/big64.old" "$out/big64.new"
run_pair big64 "$out/big64.old" "$out/big64.new" v2 bsdiff
echo "| tool | patch bytes | gen s | gen MiB | apply s | apply MiB |"
echo "|---|---|---|---|---|---|"
for t in v2 bsdiff; do
  echo "| $t | ${size[big64.$t]} | ${gsec[big64.$t]} | $(mib "${gkib[big64.$t]}") | ${asec[big64.$t]} | $(mib "${akib[big64.$t]}") |"
done
rm -f "$out"/big64.*

echo
echo "## Apply memory vs file size (1 MiB and 256 MiB synthetic pairs)"
echo
echo "| pair | format | patch bytes | apply s | apply peak RSS MiB |"
echo "|---|---|---|---|---|"
for m in 1 256; do
  go run ./bench/genpair "$m" "$out/m$m.old" "$out/m$m.new"
  run_pair "m$m" "$out/m$m.old" "$out/m$m.new" v2 v1
  for t in v2 v1; do
    echo "| $m MiB | $t | ${size[m$m.$t]} | ${asec[m$m.$t]} | $(mib "${akib[m$m.$t]}") |"
  done
  rm -f "$out"/m$m.*
done
