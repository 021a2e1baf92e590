# TC-A18 (E3): after bob's BYE got 200, a new BYE in that dialog (new branch,
# CSeq + 1) gets 481. Alice gets the release BYE.
start_server --join.adhoc-policy=anyone
start_sipp_bg alice alice join_wait_bye.xml -- -key ruri "sip:conference-factory@$DOMAIN"
sleep 0.5
run_sipp bob bob bye_after_end.xml -- -key ruri "sip:gs-1@$DOMAIN"
wait_sipp alice
stop_server
