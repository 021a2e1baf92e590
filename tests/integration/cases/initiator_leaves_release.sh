# TC-A12 (without the NOTIFYs): with release.on-initiator-leave on, alice
# (the initiator) leaving gets 200 and makes the focus BYE bob and carol.
# The flag is given in the bare form CAF takes for booleans; shutdown_and_help
# checks that the documented --release.on-initiator-leave=true form works too.
start_server --join.adhoc-policy=anyone --release.on-initiator-leave
start_sipp_bg alice alice join_bye.xml HOLD_MS=2000 -- -key ruri "sip:conference-factory@$DOMAIN"
sleep 0.5
start_sipp_bg bob bob join_wait_bye.xml -- -key ruri "sip:gs-1@$DOMAIN"
sleep 0.5
start_sipp_bg carol carol join_wait_bye.xml -- -key ruri "sip:gs-1@$DOMAIN"
wait_sipp alice bob carol
stop_server
