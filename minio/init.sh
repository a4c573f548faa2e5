#!/bin/sh
# One-shot MinIO setup for the compose quickstart: the bucket, a policy that allows only what
# strata does (read, write, list, delete objects and multipart uploads in that bucket), and a
# user with that policy whose keys the strata services use. Safe to run again.
set -eu

: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${STRATA_ACCESS_KEY:?}" "${STRATA_SECRET_KEY:?}"
bucket="${STRATA_BUCKET:-strata}"

mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "local/$bucket"
sed "s/arn:aws:s3:::strata/arn:aws:s3:::$bucket/g" /minio/strata-policy.json > /tmp/policy.json
mc admin policy create local strata-rw /tmp/policy.json
mc admin user add local "$STRATA_ACCESS_KEY" "$STRATA_SECRET_KEY"
# Attaching twice is an error on a re-run; the policy is then attached already.
mc admin policy attach local strata-rw --user "$STRATA_ACCESS_KEY" 2>/dev/null || true
mc admin policy entities local --user "$STRATA_ACCESS_KEY" | grep -q strata-rw
echo "bucket $bucket ready; user $STRATA_ACCESS_KEY has policy strata-rw"
