# TC-A22 (E6): henry's join gets 180 with a To tag (test.answer-delay-ms) and
# he sends BYE on that early dialog: 200 to the BYE, 487 to the INVITE. He
# was never connected, so nothing changes for alice: no BYE reaches her
# while she holds, and her own BYE later gets 200.
start_server --join.adhoc-policy=anyone --session.max-participants=2 --test.answer-delay-ms=1500
start_sipp_bg alice alice join_bye.xml RING_OPTIONAL=false HOLD_MS=3000 TIMEOUT=15 -- \
  -key ruri "sip:conference-factory@$DOMAIN"
sleep 2   # alice's 200 comes after 1.5 s
run_sipp henry henry early_bye.xml -- -key ruri "sip:gs-1@$DOMAIN"
wait_sipp alice
stop_server
