# TC-J18: with the default join.adhoc-policy=invited, henry (not invited) is
# refused with 403 and a Warning with code 399. Alice is undisturbed: no BYE
# during her hold, and her BYE gets 200.
start_server
start_sipp_bg alice alice join_bye.xml HOLD_MS=1500 -- -key ruri "sip:conference-factory@$DOMAIN"
sleep 0.5
run_sipp henry henry invite_reject.xml CODE=403 \
  CHECKS='<ereg regexp="^ *399 [^ ]+ &quot;" search_in="hdr" header="Warning:" check_it="true" assign_to="ok"/>' \
  -- -key ruri "sip:gs-1@$DOMAIN"
wait_sipp alice
stop_server
