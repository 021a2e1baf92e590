# Generic request checks (RFC 3261 8.2, 16.3; PROTOCOL.md E23): a CSeq method
# that is not the request's -> 400; Max-Forwards: 0 -> 483; an INVITE without
# Contact -> 400. None of it harms the server: a valid creation then gets 200
# (and gs-1: nothing was allocated).
start_server
run_sipp cseq-mismatch alice invite_reject.xml CODE=400 CSEQ_METHOD=BYE \
  -- -key ruri "sip:conference-factory@$DOMAIN"
run_sipp max-forwards-0 alice invite_reject.xml CODE=483 MAX_FORWARDS=0 \
  -- -key ruri "sip:conference-factory@$DOMAIN"
run_sipp no-contact alice invite_reject.xml CODE=400 CONTACT= \
  -- -key ruri "sip:conference-factory@$DOMAIN"
run_sipp create alice join_bye.xml GS=gs-1 -- -key ruri "sip:conference-factory@$DOMAIN"
stop_server
