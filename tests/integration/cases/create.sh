# TC-J01 (answer), TC-J30 (offer without a=setup), TC-A01 (BYE), TC-A11 (a
# released identity answers 404).
start_server
# join_invite.frag checks the 200: Contact <sip:gs-1@im.example.com>;isfocus;
# +g.oma.sip-im, Allow with INVITE/ACK/BYE, application/sdp, m=message <msrp port>
# TCP/MSRP *, exactly a=accept-types:message/cpim, a=path with a 16-character
# session-id, a=setup:passive, a=sendrecv. join_bye.xml checks the BYE's 200.
run_sipp alice-create alice join_bye.xml GS=gs-1 -- -key ruri "sip:conference-factory@$DOMAIN"
run_sipp henry-invite-released henry invite_reject.xml CODE=404 -- -key ruri "sip:gs-1@$DOMAIN"
stop_server
