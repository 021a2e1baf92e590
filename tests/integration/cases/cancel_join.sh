# TC-A21 (E7): with test.answer-delay-ms every join is answered 180 at once
# and 200 1.5 s later. henry CANCELs his pending join: 200 to the CANCEL,
# 487 to the INVITE. He was never in the roster: bob can still join a
# session limited to 2 users, and alice sees nothing until bob's departure
# releases the session (2 -> 1).
start_server --join.adhoc-policy=anyone --session.max-participants=2 --test.answer-delay-ms=1500
start_sipp_bg alice alice join_wait_bye.xml RING_OPTIONAL=false TIMEOUT=15 -- \
  -key ruri "sip:conference-factory@$DOMAIN"
sleep 2   # alice's 200 comes after 1.5 s
run_sipp henry henry cancel_join.xml -- -key ruri "sip:gs-1@$DOMAIN"
run_sipp bob bob join_bye.xml RING_OPTIONAL=false -- -key ruri "sip:gs-1@$DOMAIN"
wait_sipp alice
stop_server
