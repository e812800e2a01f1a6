#!/bin/sh
# Fails after a few seconds, as a misconfigured service would.
echo "connecting to the database..."
sleep 5
echo "error: database connection refused" >&2
exit 3
