# TC-J27 a-d: unacceptable MSRP offers to the factory get 488 (with the
# Warning codes of SESSIONS.md 7.1) and allocate nothing: the valid creation
# that follows gets gs-1.
start_server
offer() {  # offer MLINE ACCEPT-TYPES-LINE PATH-LINE
  printf 'v=0\no=[user] 1 1 IN IP4 [local_ip]\ns=-\nc=IN IP4 [local_ip]\nt=0 0\n%s\n' "$1"
  [ -n "$2" ] && printf '%s\n' "$2"
  [ -n "$3" ] && printf '%s\n' "$3"
  printf 'a=sendrecv\n'
}
warning() {  # a CHECKS value: the Warning's code is $1
  printf '<ereg regexp="^ *%s [^ ]+ &quot;" search_in="hdr" header="Warning:" check_it="true" assign_to="ok"/>' "$1"
}
PATH_LINE='a=path:msrp://[local_ip]:40001/alice0001;tcp'
# (a) accept-types without message/cpim: 488 + Warning 305.
run_sipp offer-accept-types alice invite_reject.xml CODE=488 CHECKS="$(warning 305)" \
  BODY="$(offer 'm=message 40001 TCP/MSRP *' 'a=accept-types:text/plain' "$PATH_LINE")" \
  -- -key ruri "sip:conference-factory@$DOMAIN"
# (b) MSRP over TLS (TLS is off): 488 + Warning 302.
run_sipp offer-tls alice invite_reject.xml CODE=488 CHECKS="$(warning 302)" \
  BODY="$(offer 'm=message 40001 TCP/TLS/MSRP *' 'a=accept-types:message/cpim' \
    'a=path:msrps://[local_ip]:40001/alice0001;tcp')" \
  -- -key ruri "sip:conference-factory@$DOMAIN"
# (c) no a=path: 488.
run_sipp offer-no-path alice invite_reject.xml CODE=488 \
  BODY="$(offer 'm=message 40001 TCP/MSRP *' 'a=accept-types:message/cpim' '')" \
  -- -key ruri "sip:conference-factory@$DOMAIN"
# (d) audio only: 488 + Warning 304.
run_sipp offer-audio-only alice invite_reject.xml CODE=488 CHECKS="$(warning 304)" \
  BODY="$(offer 'm=audio 49170 RTP/AVP 0' '' '')" \
  -- -key ruri "sip:conference-factory@$DOMAIN"
# No identity was spent on the refusals.
run_sipp create alice join_bye.xml GS=gs-1 -- -key ruri "sip:conference-factory@$DOMAIN"
stop_server
