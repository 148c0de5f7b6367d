#!/usr/bin/env bash
# A local Ray cluster for `ray job submit`, on this machine only (127.0.0.1), token auth on.
#
#   scripts/local_cluster.sh start    start it; prints the export lines and the submit command
#   scripts/local_cluster.sh env      print the export lines again (eval "$(... env)")
#   scripts/local_cluster.sh stop     stop it (only this cluster: Ray's own `ray stop` stops all)
#
# Why a script: a bare `ray start --head` makes Ray 2.60 turn token authentication on when a
# token file exists (a job's local Ray leaves ~/.ray/auth_token), while the submitting CLI stays
# without a token; and a job's `python` is whatever is first on PATH. Here the cluster and every
# client share one token, and the submit command names this project's interpreter.
#
# Settings (environment): SMOOT_HOME (default ~/smoot_dist; the token and logs go to
# $SMOOT_HOME/local-cluster; Ray's own files to /tmp/smoot-ray-<port>, as its socket paths must
# stay under 107 characters), SMOOT_RAY_PORT (6379), SMOOT_DASHBOARD_PORT (8265),
# SMOOT_RAY_CPUS (the cores + 1: streamed runs decode beside their workers).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="$repo/.venv/bin/python"
ray="$repo/.venv/bin/ray"
home="${SMOOT_HOME:-$HOME/smoot_dist}/local-cluster"
port="${SMOOT_RAY_PORT:-6379}"
dashboard="${SMOOT_DASHBOARD_PORT:-8265}"
cpus="${SMOOT_RAY_CPUS:-$(( $(nproc) + 1 ))}"
ray_temp="/tmp/smoot-ray-$port"

free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

exports() {
  echo "export RAY_ADDRESS=http://127.0.0.1:$dashboard"
  echo "export RAY_AUTH_MODE=token"
  echo "export RAY_AUTH_TOKEN=$(cat "$home/token")"
}

case "${1:-}" in
  start)
    [ -x "$ray" ] || { echo "error: $ray is missing; run scripts/setup.sh first" >&2; exit 2; }
    if [ -f "$home/session" ] && pgrep -s "$(cat "$home/session")" >/dev/null; then
      echo "error: the local cluster is already running; \`$0 stop\` first, or use it" >&2
      exit 2
    fi
    mkdir -p "$home"
    [ -s "$home/token" ] || "$python" -c 'import secrets; print(secrets.token_hex(32))' > "$home/token"
    chmod 600 "$home/token"
    # Ray's fixed default ports for its agent, metrics and client server would collide with
    # another Ray on this machine (a job's own local Ray, a test cluster): free ones instead.
    extra="--dashboard-agent-listen-port=$(free_port) --metrics-export-port=$(free_port)"
    extra="$extra --ray-client-server-port=$(free_port)"
    # Its own process session, so that `stop` ends this cluster's processes and no other Ray.
    RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN="$(cat "$home/token")" \
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 PATH="$repo/.venv/bin:$PATH" \
      setsid bash -c 'echo $$ > "$0/session"; exec "$1" start --head --node-ip-address=127.0.0.1 \
        --port="$2" --dashboard-host=127.0.0.1 --dashboard-port="$3" --include-dashboard=true \
        --num-cpus="$4" --disable-usage-stats --temp-dir="$6" $5 >"$0/start.log" 2>&1' \
        "$home" "$ray" "$port" "$dashboard" "$cpus" "$extra" "$ray_temp" \
      || { echo "error: ray start failed; see $home/start.log" >&2; exit 2; }
    # Ready when the Jobs API takes a job: its agent registers some seconds after `ray start`.
    RAY_AUTH_MODE=token RAY_AUTH_TOKEN="$(cat "$home/token")" "$python" - "$dashboard" <<'PY' \
      || { echo "error: the cluster's Jobs API did not come up; see $ray_temp" >&2; exit 2; }
import sys, time
from ray.job_submission import JobStatus, JobSubmissionClient

deadline = time.monotonic() + 120
while True:
    try:
        client = JobSubmissionClient(f"http://127.0.0.1:{sys.argv[1]}")
        job = client.submit_job(entrypoint="true")
        while client.get_job_status(job) not in (JobStatus.SUCCEEDED, JobStatus.FAILED,
                                                 JobStatus.STOPPED):
            time.sleep(0.5)
        client.delete_job(job)
        break
    except Exception:
        if time.monotonic() > deadline:
            raise
        time.sleep(1)
PY
    echo "local Ray cluster on 127.0.0.1 ($cpus CPUs; dashboard and Jobs API http://127.0.0.1:$dashboard)"
    echo
    echo "# in the shell you submit from:"
    exports
    echo
    echo "# then, from $repo:"
    echo "$ray job submit --working-dir . -- $python jobs/train.py --workers 2"
    ;;
  env)
    [ -s "$home/token" ] || { echo "error: no local cluster was started; \`$0 start\`" >&2; exit 2; }
    exports
    ;;
  stop)
    if [ -f "$home/session" ] && pgrep -s "$(cat "$home/session")" >/dev/null; then
      pkill -TERM -s "$(cat "$home/session")" || true
      sleep 2
      pkill -KILL -s "$(cat "$home/session")" || true
      echo "local Ray cluster stopped"
    else
      echo "no local cluster is running"
    fi
    rm -f "$home/session"
    ;;
  *)
    echo "usage: $0 start|env|stop" >&2
    exit 2
    ;;
esac
