# TC-J26c: an INVITE to an identity that was never allocated gets 404.
start_server
run_sipp alice alice invite_reject.xml CODE=404 -- -key ruri "sip:gs-77@$DOMAIN"
stop_server
