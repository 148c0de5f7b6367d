#!/usr/bin/env bash
# Run a command (a Ray node) with disks of its own, as a separate machine of a cluster has:
#
#   scripts/private_node.sh PYTHON RAY_TEMP -- COMMAND [ARGS...]
#
# In a mount namespace of its own, a private tmpfs lies over /tmp and the home folder, so
# nothing another node writes there is visible to the command, nor what it writes there to
# anyone else. What a real node's setup installs (cluster.yaml's setup_commands) is bound back
# read-only where it lies under them, and this script alone says what that is: the prepared
# data (smoot_dist's data root as PYTHON sees it in this environment), the Python PYTHON is
# made from, its virtualenv, and this checkout. RAY_TEMP: the head's Ray temporary folder; a
# node joining a head puts its sockets under that name (Ray ignores --temp-dir off the head),
# so an empty folder of that name is made in the private /tmp.
#
# Needs `unshare --mount` (root, or a kernel that lets users make mount namespaces):
# `scripts/private_node.sh --check` says whether it can run here (exit 0) or why not (exit 1).
# Used by scripts/local_cluster.sh (start --rehearsal) and by the tests' two-node cluster.
set -euo pipefail

if [ "${1:-}" = "--check" ]; then
  command -v unshare >/dev/null || { echo "no unshare(1) on this machine"; exit 1; }
  out="$(unshare --mount --propagation private -- sh -c 'mount -t tmpfs tmpfs /mnt' 2>&1)" \
    || { echo "unshare --mount is not allowed here (${out:0:200})"; exit 1; }
  exit 0
fi

if [ -z "${SMOOT_PRIVATE_NODE_INSIDE:-}" ]; then
  [ $# -ge 4 ] && [ "$3" = "--" ] || {
    echo "usage: $0 PYTHON RAY_TEMP -- COMMAND [ARGS...] | --check" >&2; exit 2; }
  # read before /tmp and ~ are covered: the code and its virtualenv may lie there (a CI checkout)
  repo="$(cd "$(dirname "$0")/.." && pwd)"
  installed="$(cd "$repo" && "$1" -c 'import sys; from smoot_dist.data.paths import data_root
print(data_root(), sys.base_prefix, sys.prefix, sep=":")')"
  keep="$installed:$repo"
  shift
  SMOOT_PRIVATE_NODE_INSIDE=1 exec unshare --mount --propagation private -- "$BASH" "$0" "$keep" "$@"
fi

# what is kept, each once: a path inside another comes with it
mapfile -t wanted < <(tr ':' '\n' <<< "$1" | xargs -r -d '\n' realpath -m | sort -u)
keep=()
for p in "${wanted[@]}"; do
  inside=0
  for q in "${wanted[@]}"; do [[ "$p" != "$q" && "$p" == "$q"/* ]] && inside=1; done
  [ "$inside" = 1 ] || keep+=("$p")
done
ray_temp="$2"
shift 3
# /mnt: this namespace's own tmpfs, which holds what is kept while /tmp and ~ are covered
mount -t tmpfs tmpfs /mnt
for i in "${!keep[@]}"; do mkdir -p "/mnt/$i" && mount --bind "${keep[$i]}" "/mnt/$i"; done
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs "$HOME"
for i in "${!keep[@]}"; do
  mkdir -p "${keep[$i]}" && mount --bind "/mnt/$i" "${keep[$i]}"
  mount -o remount,bind,ro "${keep[$i]}"
done
mkdir -p "$ray_temp"
unset SMOOT_PRIVATE_NODE_INSIDE
exec "$@"
