# Untrusted input never crashes or wedges the server: random bytes and
# truncated or oversized SIP over UDP and TCP, then a normal creation still
# gets its 200 (gs-1) and the server shuts down cleanly.
start_server
host=127.0.0.1
for i in $(seq 1 100); do
  head -c $((RANDOM % 2000 + 1)) /dev/urandom > "/dev/udp/$host/$SERVER_PORT" 2>/dev/null || true
done
printf 'INVITE sip:conference-factory@im.example.com SIP/2.0\r\nVia: nonsense\r\nContent-Length: 99999999\r\n\r\n' \
  > "/dev/udp/$host/$SERVER_PORT" 2>/dev/null || true
printf 'OPTIONS sip:x@y SIP/2.0\r\nCSeq: banana\r\n\r\n' > "/dev/udp/$host/$SERVER_PORT" 2>/dev/null || true
for i in $(seq 1 10); do
  (head -c 4000 /dev/urandom > "/dev/tcp/$host/$SERVER_PORT") 2>/dev/null || true
done
(printf 'INVITE sip:conference-factory@im.example.com SIP/2.0\r\nContent-Length: 100000000\r\n\r\nabc' \
  > "/dev/tcp/$host/$SERVER_PORT") 2>/dev/null || true
run_sipp create alice join_bye.xml GS=gs-1 -- -key ruri "sip:conference-factory@$DOMAIN"
stop_server
