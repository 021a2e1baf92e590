# TC-J19: session.max-participants=2 with alice and bob in: henry gets 486
# with Warning 399; with --join.full-response=403 he gets 403 instead. Bob
# leaving afterwards releases the session (2 -> 1).
for code in 486 403; do
  if [ "$code" = 486 ]; then
    start_server --join.adhoc-policy=anyone --session.max-participants=2
  else
    start_server --join.adhoc-policy=anyone --session.max-participants=2 --join.full-response=403
  fi
  start_sipp_bg "alice-$code" alice join_wait_bye.xml -- -key ruri "sip:conference-factory@$DOMAIN"
  sleep 0.5
  start_sipp_bg "bob-$code" bob join_bye.xml HOLD_MS=1500 -- -key ruri "sip:gs-1@$DOMAIN"
  sleep 0.5
  run_sipp "henry-$code" henry invite_reject.xml CODE="$code" \
    CHECKS='<ereg regexp="^ *399 [^ ]+ &quot;" search_in="hdr" header="Warning:" check_it="true" assign_to="ok"/>' \
    -- -key ruri "sip:gs-1@$DOMAIN"
  wait_sipp "bob-$code" "alice-$code"
  stop_server
done
