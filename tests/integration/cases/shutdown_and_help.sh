# Command line and process life cycle (run once, over UDP):
# --help lists every documented flag; the ready line has its exact form and
# is the only stdout line; SIGINT and SIGTERM both end the server with 0; a
# bad flag value stops it with a non-zero status and a message; a config
# file (CAF ini syntax) sets session.domain; the documented `--flag=true`
# form of the boolean flags is accepted.

# --help
"$IMSERVER" --help >"$WORK/help.txt" 2>&1
rc=$?
[ "$rc" -eq 0 ] || fail "imserver --help exited with $rc"
for flag in --sip.host --sip.port --session.domain --session.identity-mode \
  --session.max-participants --adhoc.factory-uris --auth.trusted-peers \
  --join.adhoc-policy --release.min-participants --release.on-initiator-leave \
  --scheduler.max-threads --sip.thread-nice --config-file; do
  grep -qF -- "$flag" "$WORK/help.txt" || { cat "$WORK/help.txt"; fail "--help does not mention $flag"; }
done
log "--help mentions every flag"

# SIGINT (start_server has checked the ready line's form).
start_server
run_sipp options-factory alice request.xml METHOD=OPTIONS CODE=200 -- -key ruri "sip:conference-factory@$DOMAIN"
stop_server INT
[ "$(wc -l <"$SERVER_OUT")" -eq 1 ] || { cat "$SERVER_OUT"; fail "stdout has more than the ready line"; }

# SIGTERM
start_server
stop_server TERM
[ "$(wc -l <"$SERVER_OUT")" -eq 1 ] || { cat "$SERVER_OUT"; fail "stdout has more than the ready line"; }

# --sip.thread-nice lands on the SIP thread (im.sip) and on no other. A
# positive value needs no privilege; the server still answers with it.
start_server --sip.thread-nice=7
server_pid=""  # SERVER_PID is timeout's; imserver is its child
for proc in /proc/[0-9]*; do
  [ "$(cat "$proc/comm" 2>/dev/null)" = imserver ] || continue
  [ "$(awk '{ print $4 }' "$proc/stat" 2>/dev/null)" = "$SERVER_PID" ] && server_pid=${proc#/proc/}
done
[ -n "$server_pid" ] || fail "no imserver process under pid $SERVER_PID"
sip_nice=""
other_nice=""
for task in /proc/"$server_pid"/task/*; do
  nice=$(awk '{ print $19 }' "$task/stat")
  if [ "$(cat "$task/comm")" = im.sip ]; then sip_nice=$nice; else other_nice="$other_nice $nice"; fi
done
[ "$sip_nice" = 7 ] || fail "--sip.thread-nice=7: the im.sip thread runs at nice '$sip_nice'"
case " $other_nice " in *" 7 "*) fail "--sip.thread-nice=7 reached other threads:$other_nice" ;; esac
run_sipp options-nice alice request.xml METHOD=OPTIONS CODE=200 -- -key ruri "sip:conference-factory@$DOMAIN"
log "--sip.thread-nice=7 applied to im.sip only"
stop_server TERM
[ "$(wc -l <"$SERVER_OUT")" -eq 1 ] || { cat "$SERVER_OUT"; fail "stdout has more than the ready line"; }

# A bad flag value: non-zero exit (within 10 s) with a message naming it.
timeout 10 "$IMSERVER" --sip.port=0 --join.adhoc-policy=bogus >"$WORK/bad.out" 2>"$WORK/bad.err"
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "--join.adhoc-policy=bogus: exit status $rc (expected a non-zero exit)"
grep -q "adhoc-policy" "$WORK/bad.err" || { cat "$WORK/bad.out" "$WORK/bad.err"; fail "no message naming --join.adhoc-policy"; }
log "--join.adhoc-policy=bogus refused with status $rc: $(head -n 1 "$WORK/bad.err")"

# --config-file sets the domain (no --session.domain on the command line,
# which would win over the file).
printf '[session]\ndomain="cfg.example.com"\n' >"$WORK/imserver.ini"
SERVER_BASE_FLAGS=(--sip.port=0 --msrp.port=0 --session.identity-mode=sequential)
start_server --config-file="$WORK/imserver.ini"
run_sipp options-cfg-factory alice request.xml METHOD=OPTIONS CODE=200 \
  -- -key ruri "sip:conference-factory@cfg.example.com"
stop_server
SERVER_BASE_FLAGS=(--sip.port=0 --msrp.port=0 --session.domain="$DOMAIN" --session.identity-mode=sequential)

# The boolean knobs in the documented --name=true form.
for flag in --release.on-initiator-leave=true --test.hooks=true; do
  log "the documented form $flag must be accepted"
  start_server "$flag"
  stop_server
done
