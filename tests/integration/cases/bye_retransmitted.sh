# TC-A15 (E2): bob's BYE sent twice (same branch, ~100 ms apart) gets 200
# both times over UDP. Over TCP the server transaction is gone once it has
# answered (RFC 3261 17.2.2: Timer J = 0 on reliable transports), so the
# second BYE may get 200 or 481, nothing else. Alice gets the release BYE.
start_server --join.adhoc-policy=anyone
start_sipp_bg alice alice join_wait_bye.xml -- -key ruri "sip:conference-factory@$DOMAIN"
sleep 0.5
if [ "$TRANSPORT" = udp ]; then
  run_sipp bob bob bye_retransmitted.xml -- -key ruri "sip:gs-1@$DOMAIN"
else
  run_sipp bob bob bye_retransmitted.xml SECOND_200='optional="true" next="done"' \
    SECOND_OTHER='<recv response="481"/>' -- -key ruri "sip:gs-1@$DOMAIN"
fi
wait_sipp alice
stop_server
