# TC-J10 a, c, d, and "a list body must not break creation": a
# multipart/mixed creation with SDP and a recipient list under
# Require: recipient-list-invite gets 200 (gs-1); Require without a list ->
# 400; a text/plain body -> 415 with Accept naming application/sdp;
# Require: foo -> 420 + Unsupported: foo. The next valid creation gets gs-2:
# only the first valid one spent an identity.
start_server
MULTIPART='--boundary42
Content-Type: application/sdp

v=0
o=[user] 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=message 40001 TCP/MSRP *
a=accept-types:message/cpim
a=path:msrp://[local_ip]:40001/alice0001;tcp
a=sendrecv

--boundary42
Content-Type: application/resource-lists+xml
Content-Disposition: recipient-list

<?xml version="1.0" encoding="UTF-8"?>
<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"
    xmlns:cp="urn:ietf:params:xml:ns:copycontrol">
  <list>
    <entry uri="sip:bob@127.0.0.1:9" cp:copyControl="to"/>
  </list>
</resource-lists>

--boundary42--'
run_sipp create-with-list alice join_bye.xml GS=gs-1 \
  HEADERS='Require: recipient-list-invite' \
  CONTENT_TYPE='multipart/mixed;boundary=boundary42' BODY="$MULTIPART" \
  -- -key ruri "sip:conference-factory@$DOMAIN"
run_sipp require-without-list alice invite_reject.xml CODE=400 \
  HEADERS='Require: recipient-list-invite' -- -key ruri "sip:conference-factory@$DOMAIN"
run_sipp text-body alice invite_reject.xml CODE=415 \
  CONTENT_TYPE=text/plain BODY='hello' \
  CHECKS='<ereg regexp="(^|[ ,])application/sdp(,|;|$)" search_in="hdr" header="Accept:" check_it="true" assign_to="ok"/>' \
  -- -key ruri "sip:conference-factory@$DOMAIN"
run_sipp require-foo alice invite_reject.xml CODE=420 HEADERS='Require: foo' \
  CHECKS='<ereg regexp="^ *foo *$" search_in="hdr" header="Unsupported:" check_it="true" assign_to="ok"/>' \
  -- -key ruri "sip:conference-factory@$DOMAIN"
run_sipp create-after alice join_bye.xml GS=gs-2 -- -key ruri "sip:conference-factory@$DOMAIN"
stop_server
