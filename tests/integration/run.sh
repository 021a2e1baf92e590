#!/usr/bin/env bash
# run.sh CASE udp|tcp N: runs one integration case against a fresh imserver.
# N (1..250) makes the test's loopback addresses (127.0.N.x) unique.
# Needs IMSERVER (the server binary) in the environment, and sipp on PATH.
set -u
if [ $# -ne 3 ]; then
  echo "usage: $0 CASE udp|tcp N" >&2
  exit 2
fi
CASE=$1
TRANSPORT=$2
N=$3
: "${IMSERVER:?set IMSERVER to the imserver binary}"
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] && [ "$N" -le 250 ] || { echo "N must be 1..250" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -f "$HERE/cases/$CASE.sh" ] || { echo "no case $CASE" >&2; exit 2; }
command -v "${SIPP:-sipp}" >/dev/null || { echo "sipp not found" >&2; exit 2; }
[ -x "$IMSERVER" ] || { echo "IMSERVER=$IMSERVER is not executable" >&2; exit 2; }

# shellcheck source=lib.sh
. "$HERE/lib.sh"
start_watchdog 45
log "case $CASE over $TRANSPORT, addresses 127.0.$N.x, work dir $WORK"
# shellcheck source=/dev/null
. "$HERE/cases/$CASE.sh"
pass
