# TC-A19 (E4): bob's INVITE has CSeq 10; a BYE with CSeq 9 gets 500 and bob
# stays (his BYE with CSeq 11 then gets 200). Alice gets the release BYE.
start_server --join.adhoc-policy=anyone
start_sipp_bg alice alice join_wait_bye.xml -- -key ruri "sip:conference-factory@$DOMAIN"
sleep 0.5
run_sipp bob bob bye_lower_cseq.xml INVITE_CSEQ=10 -- -key ruri "sip:gs-1@$DOMAIN"
wait_sipp alice
stop_server
