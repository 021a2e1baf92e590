  <!-- Fragment (inlined by the harness with {{>join_invite.frag}}): [user]
       INVITEs [ruri], checks the 200 (SESSIONS.md 12.1 ANSWER-OK and the
       focus Contact) and ACKs. Saves the dialog's To tag in $dialog_tag and
       the Call-ID in $dialog_callid.
       Placeholders: GS (user part of the expected focus identity),
       RING_OPTIONAL (false: a 180 must precede the 200), INVITE_CSEQ, PAI
       (the identity header line), HEADERS (extra header lines),
       CONTENT_TYPE, BODY (default: an MSRP offer without a=setup), CHECKS
       (extra <ereg> actions on the 200). -->
  <send retrans="500">
    <![CDATA[
      INVITE [ruri] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[user]@example.com>;tag=[pid]SIPpTag00[call_number]
      To: <[ruri]>
      Call-ID: [call_id]
      CSeq: {{INVITE_CSEQ|1}} INVITE
      Contact: <sip:[user]@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      {{PAI|P-Asserted-Identity: <sip:[user]@example.com>}}
      Subject: Project sync
      {{HEADERS|}}
      Content-Type: {{CONTENT_TYPE|application/sdp}}
      Content-Length: [len]

{{BODY|v=0
o=[user] 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=message 40001 TCP/MSRP *
a=accept-types:message/cpim
a=accept-wrapped-types:text/plain
a=path:msrp://[local_ip]:40001/[user]0001;tcp
a=sendrecv
}}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="{{RING_OPTIONAL|true}}"/>
  <recv response="200" rrs="true">
    <action>
      <ereg regexp="^ *&lt;sip:{{GS|gs-1}}@im\.example\.com&gt;;isfocus;\+g\.oma\.sip-im *$" search_in="hdr" header="Contact:" check_it="true" assign_to="ok"/>
      <ereg regexp="(^|[ ,])INVITE(,|$)" search_in="hdr" header="Allow:" check_it="true" assign_to="ok"/>
      <ereg regexp="(^|[ ,])ACK(,|$)" search_in="hdr" header="Allow:" check_it="true" assign_to="ok"/>
      <ereg regexp="(^|[ ,])BYE(,|$)" search_in="hdr" header="Allow:" check_it="true" assign_to="ok"/>
      <ereg regexp="^ *application/sdp *$" search_in="hdr" header="Content-Type:" check_it="true" assign_to="ok"/>
      <ereg regexp="^ *{{INVITE_CSEQ|1}} INVITE$" search_in="hdr" header="CSeq:" check_it="true" assign_to="ok"/>
      <ereg regexp="[[:cntrl:]]c=IN IP4 127\.0\.0\.1[[:cntrl:]]" search_in="body" check_it="true" assign_to="ok"/>
      <ereg regexp="[[:cntrl:]]m=message [0-9]+ TCP/MSRP \*[[:cntrl:]]" search_in="body" check_it="true" assign_to="ok"/>
      <ereg regexp="[[:cntrl:]]a=accept-types:message/cpim[[:cntrl:]]" search_in="body" check_it="true" assign_to="ok"/>
      <ereg regexp="a=accept-types:.*a=accept-types:" search_in="body" check_it_inverse="true" assign_to="ok"/>
      <ereg regexp="[[:cntrl:]]a=path:msrp://127\.0\.0\.1:[0-9]+/[A-Za-z0-9]{16};tcp[[:cntrl:]]" search_in="body" check_it="true" assign_to="ok"/>
      <ereg regexp="a=path:.*a=path:" search_in="body" check_it_inverse="true" assign_to="ok"/>
      <ereg regexp="[[:cntrl:]]a=setup:passive[[:cntrl:]]" search_in="body" check_it="true" assign_to="ok"/>
      <ereg regexp="[[:cntrl:]]a=sendrecv[[:cntrl:]]" search_in="body" check_it="true" assign_to="ok"/>
      {{CHECKS|}}
      <ereg regexp=";tag=([^;]+)" search_in="hdr" header="To:" check_it="true" assign_to="ok,dialog_tag"/>
      <ereg regexp="^ *(.*)$" search_in="hdr" header="Call-ID:" check_it="true" assign_to="ok,dialog_callid"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[user]@example.com>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: {{INVITE_CSEQ|1}} ACK
      Contact: <sip:[user]@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop><action><log message="[user]: dialog Call-ID [$dialog_callid], focus tag [$dialog_tag]"/></action></nop>
