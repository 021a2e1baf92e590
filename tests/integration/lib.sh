# Helpers for the imserver integration tests; sourced by run.sh.
#
# Inputs (set by run.sh): IMSERVER (server binary), CASE, TRANSPORT (udp|tcp),
# N (1..250, unique per test). Every simulated user is one SIPp process bound
# to 127.0.N.x:5060, so tests running in parallel never share an address.
#
# Scenario files live in tests/sipp/. Values SIPp can substitute in message
# text come in as `-key name value` ([name] in the XML). Values SIPp cannot
# take from a keyword (expected status codes, regular expressions) are
# written {{NAME}} or {{NAME|default}} and filled in by instantiate() into a
# copy in the test's work directory.

IT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SIPP_DIR=$(cd "$IT_DIR/../sipp" && pwd)
DOMAIN=im.example.com
SIPP=${SIPP:-sipp}
SIPP_TIMEOUT_DEFAULT=10

SERVER_PID=""
SERVER_PORT=""
SERVER_RUN=0
SERVER_OUT=""
SERVER_ERR=""
declare -A SIPP_PID=()
SIPP_LABELS=()
WATCHDOG_PID=""
FAILED=0

case "$TRANSPORT" in
  udp) SIPP_TRANSPORT=u1 ;;
  tcp) SIPP_TRANSPORT=t1 ;;
  *) echo "unknown transport '$TRANSPORT'" >&2; exit 2 ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/imserver-it.$CASE.$TRANSPORT.XXXXXX") || exit 2

log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*"; }

ip_of() {
  case "$1" in
    proxy) echo "127.0.$N.10" ;;
    alice) echo "127.0.$N.11" ;;
    bob) echo "127.0.$N.12" ;;
    carol) echo "127.0.$N.13" ;;
    dan) echo "127.0.$N.14" ;;
    henry) echo "127.0.$N.60" ;;
    *) echo "unknown user '$1'" >&2; return 1 ;;
  esac
}

# Server and SIPp processes run under coreutils `timeout` (which passes
# TERM and INT on to them), so nothing outlives a test that was killed
# without its EXIT trap running. kill_hard ends such a wrapper and its child.
SERVER_MAX_S=55
kill_hard() {
  pkill -KILL -P "$1" 2>/dev/null
  kill -KILL "$1" 2>/dev/null
}

# ------------------------------------------------------------ diagnostics
dump_diagnostics() {
  local label f
  echo "======== diagnostics (work dir $WORK) ========"
  for label in "${SIPP_LABELS[@]}"; do
    echo "-------- sipp '$label' --------"
    for f in "$WORK/$label.err" "$WORK/$label.log" "$WORK/$label.msg"; do
      [ -s "$f" ] || continue
      echo "## $(basename "$f")"
      cat "$f"
    done
  done
  for f in "$WORK"/server*.out "$WORK"/server*.err; do
    [ -s "$f" ] || continue
    echo "-------- $(basename "$f") --------"
    cat "$f"
  done
  echo "======== end of diagnostics ========"
}

fail() {
  echo "FAIL [$CASE/$TRANSPORT]: $*"
  if [ -n "$SERVER_PID" ] && ! kill -0 "$SERVER_PID" 2>/dev/null; then
    wait "$SERVER_PID" 2>/dev/null
    echo "note: the server (#$SERVER_RUN) is no longer running; it exited with status $?"
    SERVER_PID=""
  fi
  FAILED=1
  dump_diagnostics
  exit 1
}

cleanup() {
  local rc=$? label pid
  trap - EXIT INT TERM
  [ -n "$WATCHDOG_PID" ] && kill "$WATCHDOG_PID" 2>/dev/null
  for label in "${!SIPP_PID[@]}"; do
    pid=${SIPP_PID[$label]}
    kill -TERM "$pid" 2>/dev/null || continue
    sleep 0.3
    kill_hard "$pid"
  done
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill_hard "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null
  fi
  wait 2>/dev/null
  if [ "$rc" -eq 0 ] && [ "$FAILED" -eq 0 ]; then
    if [ -n "${IT_KEEP:-}" ]; then echo "work dir kept (IT_KEEP): $WORK"; else rm -rf "$WORK"; fi
  else
    [ "$FAILED" -eq 0 ] && dump_diagnostics
    echo "work dir kept: $WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT
trap 'echo "terminated (watchdog or ctest timeout)"; exit 143' TERM

# A test that hangs still ends, and cleanup() still runs.
start_watchdog() {
  local self=$$
  # Its own output goes nowhere, so it never holds the test's stdout open.
  (
    sleep "${1:-45}" &
    sleeper=$!
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    wait "$sleeper" && kill -TERM "$self" 2>/dev/null
  ) >/dev/null 2>&1 &
  WATCHDOG_PID=$!
}

# ---------------------------------------------------------------- server
# start_server [flags...]: starts imserver with SERVER_BASE_FLAGS (the
# common test flags) plus the given ones, waits (10 s at most) for its ready
# line and checks that line's exact form.
SERVER_BASE_FLAGS=(--sip.port=0 --msrp.port=0 --session.domain="$DOMAIN" --session.identity-mode=sequential)
start_server() {
  [ -z "$SERVER_PID" ] || fail "start_server: a server is already running"
  SERVER_RUN=$((SERVER_RUN + 1))
  SERVER_OUT="$WORK/server$SERVER_RUN.out"
  SERVER_ERR="$WORK/server$SERVER_RUN.err"
  log "server #$SERVER_RUN: imserver ${SERVER_BASE_FLAGS[*]} $*"
  timeout -k 2 "$SERVER_MAX_S" "$IMSERVER" "${SERVER_BASE_FLAGS[@]}" "$@" >"$SERVER_OUT" 2>"$SERVER_ERR" &
  SERVER_PID=$!
  local i line
  for ((i = 0; i < 100; i++)); do
    line=$(head -n 1 "$SERVER_OUT" 2>/dev/null)
    if [[ "$line" =~ ^imserver\ listening\ sip=udp\+tcp:127\.0\.0\.1:([0-9]+)\ msrp=tcp: ]]; then
      SERVER_PORT=${BASH_REMATCH[1]}
      log "server #$SERVER_RUN ready on port $SERVER_PORT (pid $SERVER_PID)"
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      wait "$SERVER_PID"
      local rc=$?
      SERVER_PID=""
      fail "server exited with status $rc before its ready line"
    fi
    sleep 0.1
  done
  fail "no ready line from the server within 10 s (got: '$line')"
}

# stop_server [SIGNAL]: signals the server (TERM by default) and asserts a
# clean exit with status 0 within 10 s.
stop_server() {
  local sig=${1:-TERM} i rc
  [ -n "$SERVER_PID" ] || fail "stop_server: no server running"
  kill -"$sig" "$SERVER_PID" 2>/dev/null || fail "stop_server: cannot signal pid $SERVER_PID"
  for ((i = 0; i < 100; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill_hard "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
    fail "server did not exit within 10 s of SIG$sig"
  fi
  wait "$SERVER_PID"
  rc=$?
  SERVER_PID=""
  [ "$rc" -eq 0 ] || fail "server exited with status $rc after SIG$sig (expected 0)"
  log "server #$SERVER_RUN stopped cleanly after SIG$sig"
}

# ------------------------------------------------------------- scenarios
# instantiate SRC DEST [NAME=VALUE...]: copies a scenario, first inlining
# {{>file}} (another file of tests/sipp/), then replacing {{NAME}} and
# {{NAME|default}}; unset names take their default, and a line holding only
# a placeholder that comes out empty is dropped (so optional header lines
# vanish instead of ending the header block). A placeholder without value or
# default is an error.
instantiate() {
  local src=$1 dest=$2 kv
  shift 2
  local env=()
  for kv in "$@"; do env+=("IT_SUBST_$kv"); done
  env "${env[@]}" IT_SIPP_DIR="$SIPP_DIR" perl -e '
    use strict;
    sub slurp { my ($f) = @_; open(my $h, "<", $f) or die "cannot read $f\n"; local $/; my $t = <$h>; return $t; }
    my $text = slurp($ARGV[0]);
    $text =~ s/^[ \t]*\{\{>([\w.-]+)\}\}[ \t]*\n/slurp("$ENV{IT_SIPP_DIR}\/$1")/gme;
    my @missing;
    my $re = qr/\{\{([A-Z_][A-Z0-9_]*)(?:\|([^}]*))?\}\}/;
    my $value = sub {
      my ($name, $default) = @_;
      return $ENV{"IT_SUBST_$name"} if exists $ENV{"IT_SUBST_$name"};
      return $default if defined $default;
      push @missing, $name;
      return "";
    };
    $text =~ s/^[ \t]*$re[ \t]*\n/my $v = $value->($1, $2); $v eq "" ? "" : "$v\n"/gme;
    $text =~ s/$re/$value->($1, $2)/ge;
    die "placeholders without value: @missing\n" if @missing;
    print $text;' "$src" >"$dest"
}

# sipp_cmd LABEL USER SCENARIO [NAME=VALUE...] [-- extra sipp args...]
# Sets SIPP_CMD (array) and SIPP_WALL (outer time limit in seconds).
# NAME=VALUE fill the scenario's placeholders; TIMEOUT=s sets SIPp's
# global -timeout (default 10 s); AS=name sets the [user] key (the SIP user
# name in From, Contact and P-Asserted-Identity), which defaults to USER,
# the simulated host whose address SIPp binds.
sipp_cmd() {
  local label=$1 user=$2 scenario=$3 ip timeout=$SIPP_TIMEOUT_DEFAULT as=$2
  shift 3
  local subst=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case "$1" in
      TIMEOUT=*) timeout=${1#TIMEOUT=} ;;
      AS=*) as=${1#AS=} ;;
      *=*) subst+=("$1") ;;
      *) fail "sipp_cmd $label: bad argument '$1'" ;;
    esac
    shift
  done
  [ "${1:-}" = "--" ] && shift
  local l
  for l in "${SIPP_LABELS[@]}"; do [ "$l" != "$label" ] || fail "sipp label '$label' used twice"; done
  [ -f "$SIPP_DIR/$scenario" ] || fail "no scenario $SIPP_DIR/$scenario"
  ip=$(ip_of "$user") || fail "unknown user $user"
  instantiate "$SIPP_DIR/$scenario" "$WORK/$label.xml" "${subst[@]}" || fail "cannot instantiate $scenario"
  SIPP_LABELS+=("$label")
  SIPP_WALL=$((timeout + 5))
  SIPP_CMD=("$SIPP" "127.0.0.1:$SERVER_PORT" -sf "$WORK/$label.xml"
    -i "$ip" -ci "$ip" -p 5060 -t "$SIPP_TRANSPORT" -m 1 -nostdin
    -timeout "${timeout}s" -timeout_error -default_behaviors abortunexp
    -trace_msg -message_file "$WORK/$label.msg"
    -trace_err -error_file "$WORK/$label.err"
    -trace_logs -log_file "$WORK/$label.log"
    -key user "$as" -key domain "$DOMAIN" "$@")
}

sipp_result() {
  local label=$1 rc=$2
  tail -n 30 "$WORK/$label.out" >"$WORK/$label.out.tail" 2>/dev/null
  if [ "$rc" -ne 0 ]; then
    echo "-------- sipp '$label' screen (tail) --------"
    cat "$WORK/$label.out.tail"
    fail "sipp '$label' exited with status $rc (0 = scenario passed)"
  fi
  log "sipp '$label' passed"
}

# run_sipp LABEL USER SCENARIO [NAME=VALUE...] [-- sipp args]: runs in the
# foreground and asserts that the scenario passed (exit status 0).
run_sipp() {
  sipp_cmd "$@"
  local label=$1
  log "sipp '$label' ($2, $3)"
  (cd "$WORK" && exec timeout -k 2 "$SIPP_WALL" "${SIPP_CMD[@]}") >"$WORK/$label.out" 2>&1
  sipp_result "$label" $?
}

# start_sipp_bg LABEL USER SCENARIO ...: same, in the background.
start_sipp_bg() {
  sipp_cmd "$@"
  local label=$1
  log "sipp '$label' ($2, $3) started in the background"
  (cd "$WORK" && exec timeout -k 2 "$SIPP_WALL" "${SIPP_CMD[@]}") >"$WORK/$label.out" 2>&1 &
  SIPP_PID[$label]=$!
}

# wait_sipp LABEL...: waits for background runs and asserts each passed.
wait_sipp() {
  local label pid rc
  for label in "$@"; do
    pid=${SIPP_PID[$label]:-}
    [ -n "$pid" ] || fail "wait_sipp: '$label' was not started"
    wait "$pid"
    rc=$?
    unset "SIPP_PID[$label]"
    sipp_result "$label" "$rc"
  done
}

pass() {
  log "PASS $CASE/$TRANSPORT"
  exit 0
}
