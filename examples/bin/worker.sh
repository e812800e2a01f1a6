#!/bin/sh
# A pretend job worker: progress on stdout, warnings on stderr.
trap 'echo "worker: finishing the current batch, then stopping"; exit 0' TERM
batch=0
while :; do
  batch=$((batch + 1))
  echo "batch $batch: processed $JOBS_PER_BATCH jobs"
  if [ $((batch % 2)) -eq 0 ]; then
    echo "batch $batch: 1 job retried (timeout talking to the mail service)" >&2
  fi
  sleep 1
done
