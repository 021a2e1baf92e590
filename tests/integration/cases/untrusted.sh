# TC-J21: only 127.0.N.10 (the "proxy") is trusted. alice's own PAI from
# 127.0.N.11 is refused (403); the proxy without a PAI is refused (403); the
# proxy with alice's PAI creates the session, and it is gs-1 (the refused
# attempts allocated no identity).
start_server --auth.trusted-peers="127.0.$N.10/32"
run_sipp alice-direct alice invite_reject.xml CODE=403 -- -key ruri "sip:conference-factory@$DOMAIN"
run_sipp proxy-no-pai proxy invite_reject.xml AS=alice CODE=403 PAI= -- \
  -key ruri "sip:conference-factory@$DOMAIN"
run_sipp proxy-with-pai proxy join_bye.xml AS=alice GS=gs-1 -- \
  -key ruri "sip:conference-factory@$DOMAIN"
stop_server
