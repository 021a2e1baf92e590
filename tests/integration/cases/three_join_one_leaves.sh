# TC-A01 / R1: carol leaves a three-user session (2 remain: no release), then
# bob leaves (1 < 2 remains): the focus releases the session and sends alice
# a BYE in her INVITE dialog. Had carol's BYE released the session, bob's
# BYE would get 481 and his run would fail.
start_server --join.adhoc-policy=anyone
start_sipp_bg alice alice join_wait_bye.xml TIMEOUT=15 -- -key ruri "sip:conference-factory@$DOMAIN"
sleep 0.5
start_sipp_bg bob bob join_bye.xml HOLD_MS=3000 -- -key ruri "sip:gs-1@$DOMAIN"
sleep 0.5
start_sipp_bg carol carol join_bye.xml HOLD_MS=1000 -- -key ruri "sip:gs-1@$DOMAIN"
wait_sipp carol bob alice
stop_server
