# TC-A16 (E1): bob's BYE with To tag "bogus" gets 481 and changes nothing;
# his real BYE then gets 200 (so he was still in), and his departure releases
# the session (2 -> 1): alice gets the focus's BYE.
start_server --join.adhoc-policy=anyone
start_sipp_bg alice alice join_wait_bye.xml -- -key ruri "sip:conference-factory@$DOMAIN"
sleep 0.5
run_sipp bob bob bye_wrong_totag.xml -- -key ruri "sip:gs-1@$DOMAIN"
wait_sipp alice
stop_server
