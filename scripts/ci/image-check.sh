#!/usr/bin/env bash
# What CI checks of the production image without a Docker daemon: the Dockerfile and compose.yaml linted, and
# the image's own file set (esbuild bundle, `npm ci --omit=dev`, migrations) staged like its runtime stage and
# started as a non-root user with its ENTRYPOINT + CMD, until its HEALTHCHECK passes; then SIGTERM must exit 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
port="${IMAGE_CHECK_PORT:-18180}"
metrics_port="${IMAGE_CHECK_METRICS_PORT:-18181}"
stage=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$stage"
}
trap cleanup EXIT

echo "== Dockerfile lint (dockerfilelint)"
npx dockerfilelint Dockerfile
echo "== compose.yaml (docker-compose config: the Compose schema, interpolation, depends_on conditions)"
SECRET_KEY=ci-placeholder POSTGRES_PASSWORD=ci-placeholder SMTP_URL=log: APP_URL=https://app.example docker-compose -f compose.yaml config -q

echo "== image file set in $stage (the Dockerfile's runtime stage)"
npm run build
cp package.json package-lock.json "$stage/"
(cd "$stage" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
cp -r migrations dist "$stage/"
mkdir -p "$stage/scripts" "$stage/data"
cp scripts/healthcheck.mjs "$stage/scripts/"
chmod -R a+rX "$stage"
chown nobody:nogroup "$stage/data"

mapfile -d '' entrypoint < <(node scripts/ci/dockerfile-exec.mjs Dockerfile ENTRYPOINT)
mapfile -d '' cmd < <(node scripts/ci/dockerfile-exec.mjs Dockerfile CMD)
mapfile -d '' healthcheck < <(node scripts/ci/dockerfile-exec.mjs Dockerfile HEALTHCHECK)
# The image's ENV, except HOST: loopback here, where the CI machine is shared. In the container tini is PID 1;
# here TINI_SUBREAPER gives it the same role for the server's children (and spares its warning).
run_env=(env -i PATH=/usr/local/bin:/usr/bin:/bin NODE_ENV=production HOST=127.0.0.1 PORT="$port" DATA_DIR="$stage/data"
  SECRET_KEY=image-check-secret-key-at-least-32-bytes-long SMTP_URL=log: LOG_LEVEL=warn TINI_SUBREAPER=1 METRICS_PORT="$metrics_port")
as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)

echo "== starting as nobody: ${entrypoint[*]} ${cmd[*]}"
(cd "$stage" && exec "${as_nobody[@]}" "${run_env[@]}" "${entrypoint[@]}" "${cmd[@]}") &
pid=$!
healthy=""
for _ in $(seq 1 60); do
  if (cd "$stage" && "${as_nobody[@]}" "${run_env[@]}" "${healthcheck[@]}"); then healthy=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
[ -n "$healthy" ] || { echo "image check: HEALTHCHECK (${healthcheck[*]}) never passed" >&2; exit 1; }
owner=$(stat -c %U "/proc/$pid")
[ "$owner" = nobody ] || { echo "image check: the server runs as $owner, not nobody" >&2; exit 1; }
echo "HEALTHCHECK passed; process $pid runs as $owner"
# The bundle loads prom-client only with METRICS_PORT set: prove that path works in the image's file set too.
node -e 'fetch(process.argv[1]).then(async (r) => { const t = await r.text(); if (r.status !== 200 || !t.includes("http_requests_total")) throw new Error(`GET /metrics: ${r.status}`) })' \
  "http://127.0.0.1:$metrics_port/metrics"
echo "GET /metrics answered on port $metrics_port"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || { echo "image check: SIGTERM gave exit status $status, not 0" >&2; exit 1; }
echo "image check: passed (SIGTERM: exit 0)"
