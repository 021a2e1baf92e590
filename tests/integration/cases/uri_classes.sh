# TC-J26 a, b, d, e (SESSIONS.md 1.1): with alice in gs-1, the server tells
# its Request-URI classes apart.
start_server
start_sipp_bg alice alice join_bye.xml HOLD_MS=4000 -- -key ruri "sip:conference-factory@$DOMAIN"
sleep 0.5
# (a) the session identity: 200 with Contact <sip:gs-1@...> carrying isfocus.
run_sipp options-session henry request.xml METHOD=OPTIONS CODE=200 \
  CHECKS='<ereg regexp="^ *&lt;sip:gs-1@im\.example\.com&gt;(;[^,]*)?;isfocus(;|$)" search_in="hdr" header="Contact:" check_it="true" assign_to="ok"/>' \
  -- -key ruri "sip:gs-1@$DOMAIN"
# (b) the factory: 200 with Supported: recipient-list-invite, and no isfocus.
run_sipp options-factory henry request.xml METHOD=OPTIONS CODE=200 \
  CHECKS='<ereg regexp="(^|[ ,])recipient-list-invite(,|$)" search_in="hdr" header="Supported:" check_it="true" assign_to="ok"/>
          <ereg regexp="isfocus" search_in="msg" check_it_inverse="true" assign_to="ok"/>' \
  -- -key ruri "sip:conference-factory@$DOMAIN"
# (d) MESSAGE to the session: 405 with an Allow that lacks MESSAGE.
run_sipp message-session henry request.xml METHOD=MESSAGE CODE=405 \
  CHECKS='<ereg regexp="[A-Z]" search_in="hdr" header="Allow:" check_it="true" assign_to="ok"/>
          <ereg regexp="MESSAGE" search_in="hdr" header="Allow:" check_it_inverse="true" assign_to="ok"/>' \
  -- -key ruri "sip:gs-1@$DOMAIN"
# (e) an im: Request-URI: 416.
run_sipp invite-im-uri henry invite_reject.xml CODE=416 -- -key ruri "im:gs-1@$DOMAIN"
# Another domain: 404.
run_sipp options-other-domain henry request.xml METHOD=OPTIONS CODE=404 \
  -- -key ruri "sip:someone@other.example.net"
# An unknown method: 501 with Allow.
run_sipp method-foo henry request.xml METHOD=FOO CODE=501 \
  CHECKS='<ereg regexp="(^|[ ,])INVITE(,|$)" search_in="hdr" header="Allow:" check_it="true" assign_to="ok"/>' \
  -- -key ruri "sip:gs-1@$DOMAIN"
wait_sipp alice
stop_server
