# With test.hooks on, an OPTIONS to gs-1 carrying "X-Imserver-Test: crash"
# gets 500 and makes the session actor die. The server survives it: alice
# and bob each get a BYE from the focus in their dialogs, gs-1 answers 404,
# and a new creation gets 200 with gs-2.
# The flag is given in the bare form CAF takes for booleans; shutdown_and_help
# checks that the documented --test.hooks=true form works too.
start_server --test.hooks --join.adhoc-policy=anyone
start_sipp_bg alice alice join_wait_bye.xml -- -key ruri "sip:conference-factory@$DOMAIN"
sleep 0.5
start_sipp_bg bob bob join_wait_bye.xml -- -key ruri "sip:gs-1@$DOMAIN"
sleep 0.5
run_sipp crash henry request.xml METHOD=OPTIONS CODE=500 HEADERS='X-Imserver-Test: crash' \
  -- -key ruri "sip:gs-1@$DOMAIN"
wait_sipp alice bob
run_sipp invite-gone henry invite_reject.xml CODE=404 -- -key ruri "sip:gs-1@$DOMAIN"
run_sipp create-again alice join_bye.xml GS=gs-2 -- -key ruri "sip:conference-factory@$DOMAIN"
stop_server
