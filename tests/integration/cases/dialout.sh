# TC-J02, TC-J04, TC-J09 with SIPp on both sides (the README's "group chat
# from a list"): alice creates a session at the factory with a resource list
# naming bob at his own address; the focus dials bob out (Referred-By alice,
# isfocus, recipient-list-history), bob answers, later leaves by BYE, and the
# release rule (fewer than 2 users) sends alice the focus's BYE.
start_server
BOB_IP=$(ip_of bob)
LIST_BODY='--b1
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

--b1
Content-Type: application/resource-lists+xml
Content-Disposition: recipient-list

<?xml version="1.0" encoding="UTF-8"?>
<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"
    xmlns:cp="urn:ietf:params:xml:ns:copycontrol">
  <list>
    <entry uri="sip:bob@'"$BOB_IP"':5060;transport='"$TRANSPORT"'" cp:copyControl="to"/>
  </list>
</resource-lists>

--b1--'
start_sipp_bg bob bob answer_dialout_bye.xml INVITER=alice@example.com HOLD_MS=1000 TIMEOUT=15
sleep 0.5
start_sipp_bg alice alice join_wait_bye.xml TIMEOUT=15 \
  HEADERS='Require: recipient-list-invite' \
  CONTENT_TYPE='multipart/mixed;boundary=b1' BODY="$LIST_BODY" \
  -- -key ruri "sip:conference-factory@$DOMAIN"
wait_sipp bob alice
stop_server
