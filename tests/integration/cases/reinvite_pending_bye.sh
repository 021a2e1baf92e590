# TC-A20 (E5): bob joins (180, then 200 after the test.answer-delay-ms
# hold), sends a re-INVITE, which also gets 180 and is held; his BYE then
# gets 200 and the re-INVITE 487. Bob leaving releases the session (2 -> 1):
# alice gets the focus's BYE.
start_server --join.adhoc-policy=anyone --test.answer-delay-ms=1500
start_sipp_bg alice alice join_wait_bye.xml RING_OPTIONAL=false TIMEOUT=15 -- \
  -key ruri "sip:conference-factory@$DOMAIN"
sleep 2   # alice's 200 comes after 1.5 s
run_sipp bob bob reinvite_pending_bye.xml RING_OPTIONAL=false -- -key ruri "sip:gs-1@$DOMAIN"
wait_sipp alice
stop_server
