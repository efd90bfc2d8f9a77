# Shell helpers shared by the wire benchmarks (tree.sh, signed.sh): a TCP
# relay that counts bytes per connection (bench/tcpcount), port waits, and
# number formatting. The caller defines die, $tmp (with tcpcount built in
# it) and the pids array.

# wait_port PORT: until something listens on 127.0.0.1:PORT (10 s).
wait_port() {
  local i
  for ((i = 0; i < 100; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  die "nothing listens on 127.0.0.1:$1"
}
# start_relay NAME TARGET_PORT: a counting relay in front of TARGET_PORT;
# sets relay_port, logs to $tmp/NAME.relay.
start_relay() {
  local name=$1 target=$2 i
  : >"$tmp/$name.relay"
  "$tmp/tcpcount" relay "127.0.0.1:$target" "$tmp/$name.relay" >"$tmp/$name.relayport" &
  pids+=($!)
  for ((i = 0; i < 100; i++)); do
    [[ -s $tmp/$name.relayport ]] && break
    sleep 0.1
  done
  relay_port=$(<"$tmp/$name.relayport")
  [[ -n $relay_port ]] || die "relay $name did not start"
}
# relay_mark NAME: waits until every connection through the relay is closed,
# prints the highest connection number so far.
relay_mark() {
  local f=$tmp/$1.relay i
  for ((i = 0; i < 100; i++)); do
    if awk '$1=="open"{o++} $1=="close"{c++} END{exit !(o==c)}' "$f"; then
      awk '$1=="open"{n=$2} END{print n+0}' "$f"
      return 0
    fi
    sleep 0.1
  done
  die "connections through relay $1 did not close"
}
# relay_sum NAME AFTER: "UP DOWN CONNECTIONS" over connections numbered > AFTER.
relay_sum() {
  relay_mark "$1" >/dev/null
  awk -v a="$2" '$1=="close" && $2>a {u+=$3; d+=$4; n++} END{printf "%d %d %d\n", u, d, n}' "$tmp/$1.relay"
}
# fmt N: N with thousands separators.
fmt() {
  awk -v n="$1" 'BEGIN { s = sprintf("%d", n); r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) } printf "%s%s", s, r }'
}
