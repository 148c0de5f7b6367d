#!/usr/bin/env bash
# A local Ray cluster for `ray job submit`, on this machine only (127.0.0.1), token auth on.
#
#   scripts/local_cluster.sh start    start it; prints the export lines and the submit command
#   scripts/local_cluster.sh start --rehearsal
#                                     the whole cluster path on one machine, before paying for
#                                     one: an S3-compatible server (moto) with a bucket, an
#                                     MLflow tracking server keeping its artifacts there, and a
#                                     second Ray node with disks of its own; runs live on S3
#   scripts/local_cluster.sh env      print the export lines again (eval "$(... env)")
#   scripts/local_cluster.sh stop     stop it (only this cluster: Ray's own `ray stop` stops all)
#
# Why a script: a bare `ray start --head` makes Ray 2.60 turn token authentication on when a
# token file exists (a job's local Ray leaves ~/.ray/auth_token), while the submitting CLI stays
# without a token; and a job's `python` is whatever is first on PATH. Here the cluster and every
# client share one token, and the submit command names this project's interpreter.
#
# The rehearsal (docs/cluster.md): the S3 server is moto in server mode (the `cluster-test`
# extra, which scripts/setup.sh installs); its bucket lives in its memory, so `stop` loses it.
# Every node gets the server's (made-up) credentials in its environment, as a real node has its
# instance role; the tracking server alone writes its artifacts to the bucket. The second node
# runs under scripts/private_node.sh (its own /tmp and home folder: nothing it writes there is
# seen by the head, as on two machines) where `unshare --mount` is allowed, else as a plain
# second node, and says which. Each node gets half the cores, so 2 training workers land on
# different nodes.
#
# Settings (environment): SMOOT_HOME (default ~/smoot_dist; the token and logs go to
# $SMOOT_HOME/local-cluster; Ray's own files to /tmp/smoot-ray-<port>, as its socket paths must
# stay under 107 characters), SMOOT_RAY_PORT (6379), SMOOT_DASHBOARD_PORT (8265),
# SMOOT_RAY_CPUS (the cores + 1: streamed runs decode beside their workers; with --rehearsal,
# per node: half the cores, at least 1), SMOOT_S3_PORT and SMOOT_MLFLOW_PORT (free ports).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="$repo/.venv/bin/python"
ray="$repo/.venv/bin/ray"
home="${SMOOT_HOME:-$HOME/smoot_dist}/local-cluster"
port="${SMOOT_RAY_PORT:-6379}"
dashboard="${SMOOT_DASHBOARD_PORT:-8265}"
ray_temp="/tmp/smoot-ray-$port"
bucket=smoot

free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

exports() {
  echo "export RAY_ADDRESS=http://127.0.0.1:$dashboard"
  echo "export RAY_AUTH_MODE=token"
  echo "export RAY_AUTH_TOKEN=$(cat "$home/token")"
  # the rehearsal's S3 credentials, for what this shell runs itself (evaluate.py, compare.py)
  [ -f "$home/rehearsal.env" ] && sed 's/^/export /' "$home/rehearsal.env" || true
}

running() {  # any process of this cluster's sessions alive
  [ -f "$home/sessions" ] || return 1
  while read -r sid; do pgrep -s "$sid" >/dev/null && return 0; done < "$home/sessions"
  return 1
}

stop_all() {  # every process of this cluster's sessions, and no other
  [ -f "$home/sessions" ] || return 0
  while read -r sid; do pkill -TERM -s "$sid" || true; done < "$home/sessions"
  sleep 2
  while read -r sid; do pkill -KILL -s "$sid" || true; done < "$home/sessions"
  rm -f "$home/sessions" "$home/rehearsal.env"
}

fail() {  # a start that fails leaves nothing running
  echo "error: $1" >&2
  stop_all
  exit 2
}

in_session() {  # COMMAND... in a process session of its own, recorded for `stop`
  # (what a command starts, as `ray start` does its daemons, stays in that session)
  setsid bash -c 'echo $$ >> "$0"; exec "$@"' "$home/sessions" "$@"
}

end_last_session() {  # the most recent in_session command and what it started
  local sid
  sid="$(tail -n 1 "$home/sessions")"
  pkill -KILL -s "$sid" || true
  sed -i '$d' "$home/sessions"
}

# `ray start` gives a node's raylet a fixed 30 s to register with the GCS (Ray 2.60: not a
# setting), which a machine busy with other work can exceed ("The current node timed out during
# startup"): one more try then, after ending what the first try started.
ray_start() {  # LOG WHAT COMMAND...: fail with the log's last line if it does not start
  local log="$1" what="$2" try
  shift 2
  for try in 1 2; do
    in_session "$@" > "$log" 2>&1 && return 0
    [ "$try" = 1 ] && grep -q "timed out during startup" "$log" || break
    end_last_session
    echo "note: $what timed out during startup (a busy machine); trying once more" >&2
  done
  fail "$what failed ($(grep -v '^[[:space:]]*$' "$log" | tail -n 1 | cut -c1-200)); see $log"
}

wait_for() {  # URL SECONDS WHAT: until it answers (any HTTP status) or fail with one line
  "$python" - "$1" "$2" <<'PY' || fail "$3 did not come up in $2 s"
import sys, time, urllib.error, urllib.request
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=2).close()
        break
    except urllib.error.HTTPError:
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.3)
PY
}

case "${1:-}" in
  start)
    rehearsal=""
    case "${2:-}" in
      "") ;;
      --rehearsal) rehearsal=1 ;;
      *) echo "error: unknown option ${2}; usage: $0 start [--rehearsal]" >&2; exit 2 ;;
    esac
    [ -x "$ray" ] || { echo "error: $ray is missing; run scripts/setup.sh first" >&2; exit 2; }
    if running; then
      echo "error: the local cluster is already running; \`$0 stop\` first, or use it" >&2
      exit 2
    fi
    if [ -n "$rehearsal" ] && ! "$python" -c 'import moto.server' 2>/dev/null; then
      echo "error: --rehearsal needs the S3 server of the cluster-test extra:" \
           "$python -m pip install -e '$repo[cluster-test]' (scripts/setup.sh installs it)" >&2
      exit 2
    fi
    mkdir -p "$home"
    rm -f "$home/sessions" "$home/rehearsal.env"
    [ -s "$home/token" ] || "$python" -c 'import secrets; print(secrets.token_hex(32))' > "$home/token"
    chmod 600 "$home/token"
    # every Ray process's and client's: this cluster's token, no usage stats, this venv first
    ray_env=(RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=token "RAY_AUTH_TOKEN=$(cat "$home/token")"
             "PATH=$repo/.venv/bin:$PATH")
    node_env=()
    if [ -n "$rehearsal" ]; then
      cpus="${SMOOT_RAY_CPUS:-$(( $(nproc) / 2 > 1 ? $(nproc) / 2 : 1 ))}"
      s3_port="${SMOOT_S3_PORT:-$(free_port)}"
      mlflow_port="${SMOOT_MLFLOW_PORT:-$(free_port)}"
      # made-up keys: moto accepts any; they stand for a node's instance role
      printf '%s\n' AWS_ACCESS_KEY_ID=rehearsal-key AWS_SECRET_ACCESS_KEY=rehearsal-secret \
        AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true > "$home/rehearsal.env"
      mapfile -t node_env < "$home/rehearsal.env"
      in_session env "${node_env[@]}" "$python" -m moto.server -H 127.0.0.1 -p "$s3_port" \
        > "$home/s3.log" 2>&1 &
      wait_for "http://127.0.0.1:$s3_port/" 60 "the S3 server (log: $home/s3.log)"
      "$python" -c 'import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="PUT"), timeout=10).close()' \
        "http://127.0.0.1:$s3_port/$bucket"
      in_session env "${node_env[@]}" MLFLOW_S3_ENDPOINT_URL="http://127.0.0.1:$s3_port" \
        "$repo/.venv/bin/mlflow" server --backend-store-uri "sqlite:///$home/mlflow.db" \
        --artifacts-destination "s3://$bucket/mlartifacts" --host 127.0.0.1 \
        --port "$mlflow_port" --workers 1 > "$home/mlflow.log" 2>&1 &
      wait_for "http://127.0.0.1:$mlflow_port/health" 300 "the MLflow server (log: $home/mlflow.log)"
      storage="s3://$bucket/runs?endpoint_override=127.0.0.1:$s3_port&scheme=http"
      tracking="http://127.0.0.1:$mlflow_port"
      # two nodes: Ray's multi-node mode (its loopback-only one refuses a joining node, and a
      # head in it cannot be joined); token authentication stays on
      node_env+=(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1)
    else
      cpus="${SMOOT_RAY_CPUS:-$(( $(nproc) + 1 ))}"
      node_env+=(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0)
    fi
    # Ray's fixed default ports for its agent, metrics and client server would collide with
    # another Ray on this machine (a job's own local Ray, a test cluster): free ones instead.
    extra="--dashboard-agent-listen-port=$(free_port) --metrics-export-port=$(free_port)"
    extra="$extra --ray-client-server-port=$(free_port)"
    # Its own process session, so that `stop` ends this cluster's processes and no other Ray.
    # shellcheck disable=SC2086  # $extra: several options
    ray_start "$home/start.log" "ray start" env "${node_env[@]}" "${ray_env[@]}" \
      "$ray" start --head --node-ip-address=127.0.0.1 --port="$port" \
        --dashboard-host=127.0.0.1 --dashboard-port="$dashboard" --include-dashboard=true \
        --num-cpus="$cpus" --disable-usage-stats --temp-dir="$ray_temp" $extra
    if [ -n "$rehearsal" ]; then
      # the second node: what a real node's setup installs is kept (scripts/private_node.sh
      # says what); the rest of its disks are its own
      node=("$ray" start --address="127.0.0.1:$port" --node-ip-address=127.0.0.1
            --num-cpus="$cpus" --disable-usage-stats --dashboard-agent-listen-port="$(free_port)"
            --metrics-export-port="$(free_port)" --ray-client-server-port="$(free_port)")
      if why_not="$("$repo/scripts/private_node.sh" --check)"; then
        node=("$repo/scripts/private_node.sh" "$python" "$ray_temp" -- "${node[@]}")
        second="a second node with disks of its own (its own /tmp and home folder)"
      else
        second="a second node sharing this machine's disks ($why_not)"
      fi
      ray_start "$home/node.log" "the second node's ray start" \
        env "${node_env[@]}" "${ray_env[@]}" timeout 300 "${node[@]}"
    fi
    # Ready when the Jobs API takes a job: its agent registers some seconds after `ray start`.
    env "${ray_env[@]}" "$python" - "$dashboard" <<'PY' \
      || fail "the cluster's Jobs API did not come up; see $ray_temp"
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
    if [ -n "$rehearsal" ]; then
      echo "rehearsal cluster on 127.0.0.1: a head and $second, $cpus CPU(s) each;" \
           "dashboard and Jobs API http://127.0.0.1:$dashboard"
      echo "  S3 server http://127.0.0.1:$s3_port (bucket '$bucket', in memory: \`stop\` loses it)"
      echo "  MLflow tracking server $tracking (artifacts in s3://$bucket/mlartifacts)"
    else
      echo "local Ray cluster on 127.0.0.1 ($cpus CPUs; dashboard and Jobs API http://127.0.0.1:$dashboard)"
    fi
    echo
    echo "# in the shell you submit from:"
    exports
    echo
    echo "# then, from $repo:"
    if [ -n "$rehearsal" ]; then
      echo "$ray job submit --working-dir . -- $python jobs/train.py --workers 2" \
           "--storage-path '$storage' --tracking-uri $tracking"
    else
      echo "$ray job submit --working-dir . -- $python jobs/train.py --workers 2"
    fi
    ;;
  env)
    [ -s "$home/token" ] || { echo "error: no local cluster was started; \`$0 start\`" >&2; exit 2; }
    exports
    ;;
  stop)
    if running; then
      stop_all
      echo "local Ray cluster stopped"
    else
      echo "no local cluster is running"
      rm -f "$home/sessions" "$home/rehearsal.env"
    fi
    ;;
  *)
    echo "usage: $0 start [--rehearsal] | env | stop" >&2
    exit 2
    ;;
esac
