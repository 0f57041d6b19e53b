#!/bin/bash
# Paired measurement: several exporters at once on one churning population in a
# throwaway namespace, so that a loaded machine weighs on all of them alike.
# usage (root): bench/attr_pair.sh RATE SECONDS PROCS HELD LABEL=EXPORTER:true|false ...
# e.g. bench/attr_pair.sh 166.7 40 6 16666 before=/tmp/old:true after=build/tcpstate_exporter:true off=build/tcpstate_exporter:false
# Prints CPU ms per poll (utime+stime from /proc/PID/stat) and fd links read per exporter.
set -e
rate=$1; secs=$2; procs=$3; held=$4; shift 4
ns=pair$$
ip netns add $ns; ip netns exec $ns ip link set lo up
ip netns exec $ns sysctl -q -w net.ipv4.ip_local_port_range="20000 65000"
pids=(); epids=()
cleanup() {
  kill ${epids[@]} ${pids[@]} 2>/dev/null || true
  wait 2>/dev/null || true
  ip netns del $ns 2>/dev/null || true
}
trap cleanup EXIT
for i in $(seq 1 $procs); do
  rm -f /dev/shm/pair-$i.ready
  ip netns exec $ns python3 "$(dirname "$(readlink -f "$0")")/attr_churn.py" --holder $held $rate /dev/shm/pair-$i.ready 600 & pids+=($!)
done
for i in $(seq 1 $procs); do
  for _ in $(seq 1 600); do [ -e /dev/shm/pair-$i.ready ] && break; sleep 0.2; done
  [ -e /dev/shm/pair-$i.ready ] || { echo "holder $i not ready after 120 s" >&2; exit 1; }
done
sleep 4
port=19970; labels=(); ports=()
for spec in "$@"; do
  label=${spec%%=*}; rest=${spec#*=}; exe=${rest%%:*}; attr=${rest##*:}
  port=$((port+1))
  cat > /dev/shm/pair-$label.yml <<EOC
poll:
  interval: 2s
web:
  listen_address: 127.0.0.1:$port
processes:
  enabled: $attr
log:
  level: error
EOC
  ip netns exec $ns $exe --config /dev/shm/pair-$label.yml & epids+=($!); labels+=($label); ports+=($port)
done
sleep 10
declare -A t0 p0 real
for i in "${!labels[@]}"; do
  l=${labels[$i]}; real[$l]=$(pgrep -f "pair-$l.yml" | head -1)
  t0[$l]=$(awk '{print $14+$15}' /proc/${real[$l]}/stat)
  p0[$l]=$(ip netns exec $ns curl -s 127.0.0.1:${ports[$i]}/metrics | awk '/^tcpstate_polls_total/{s+=$2}END{print s}')
done
sleep $secs
for i in "${!labels[@]}"; do
  l=${labels[$i]}
  t1=$(awk '{print $14+$15}' /proc/${real[$l]}/stat)
  m=$(ip netns exec $ns curl -s 127.0.0.1:${ports[$i]}/metrics)
  p1=$(echo "$m" | awk '/^tcpstate_polls_total/{s+=$2}END{print s}')
  f=$(echo "$m" | awk '/^tcpstate_process_attribution_fds_read_total/{print $2}')
  echo "$l cpu_ms_per_poll $(echo "(${t1}-${t0[$l]})*10/(${p1}-${p0[$l]})" | bc -l | cut -c1-6) polls $((p1-p0[$l])) fds_read_total $f"
done
