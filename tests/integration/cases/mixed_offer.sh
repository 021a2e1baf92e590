# TC-J28: an offer with an audio line before the MSRP line is accepted; the
# answer has the same two m-lines in the same order, audio rejected with
# port 0, and the chat line (ANSWER-OK, checked by join_invite.frag).
start_server
BODY='v=0
o=[user] 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio 49170 RTP/AVP 0
m=message 40001 TCP/MSRP *
a=accept-types:message/cpim
a=path:msrp://[local_ip]:40001/alice0001;tcp
a=sendrecv'
CHECKS='<ereg regexp="[[:cntrl:]]m=audio 0 RTP/AVP 0[[:cntrl:]]" search_in="body" check_it="true" assign_to="ok"/>
<ereg regexp="m=message.*m=audio" search_in="body" check_it_inverse="true" assign_to="ok"/>
<ereg regexp="m=.*m=.*m=" search_in="body" check_it_inverse="true" assign_to="ok"/>'
run_sipp alice alice join_bye.xml GS=gs-1 BODY="$BODY" CHECKS="$CHECKS" \
  -- -key ruri "sip:conference-factory@$DOMAIN"
stop_server
