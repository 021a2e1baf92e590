# TC-A17 (E1): bob's BYE without To tag gets 481 and changes nothing; his
# real BYE then gets 200, and the release BYEs alice.
start_server --join.adhoc-policy=anyone
start_sipp_bg alice alice join_wait_bye.xml -- -key ruri "sip:conference-factory@$DOMAIN"
sleep 0.5
run_sipp bob bob bye_no_totag.xml -- -key ruri "sip:gs-1@$DOMAIN"
wait_sipp alice
stop_server
