#!/bin/sh
# A pretend web server: listens on $PORT, logs a request every half second,
# and says goodbye when asked to stop.
trap 'echo "web: got SIGTERM, closing connections"; exit 0' TERM
echo "listening on http://127.0.0.1:$PORT ($GREETING)"
i=0
while :; do
  i=$((i + 1))
  echo "GET /items/$i 200 $((i % 7 + 1))ms"
  sleep 0.5
done
