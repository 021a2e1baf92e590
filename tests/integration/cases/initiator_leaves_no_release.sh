# TC-A13: with the default policy the initiator leaving releases nothing.
# alice leaves ~2 s after joining; bob and carol must get no BYE in the next
# 2.5 s (a BYE during their hold fails their run). Bob's own BYE then gets
# 200 (he was still in), and that departure (2 -> 1) makes the focus BYE carol.
start_server --join.adhoc-policy=anyone
start_sipp_bg alice alice join_bye.xml HOLD_MS=2000 -- -key ruri "sip:conference-factory@$DOMAIN"
sleep 0.5
start_sipp_bg bob bob join_bye.xml HOLD_MS=5000 -- -key ruri "sip:gs-1@$DOMAIN"
sleep 0.5
start_sipp_bg carol carol join_wait_bye.xml HOLD_MS=3500 -- -key ruri "sip:gs-1@$DOMAIN"
wait_sipp alice bob carol
stop_server
