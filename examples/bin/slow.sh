#!/bin/sh
# Takes two seconds to warm up before it reports ready.
echo "warming caches..."
sleep 2
echo "ready after 2s"
exec sleep 3600
