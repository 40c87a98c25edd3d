#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, without systemd.
#
#   scripts/slurm-cluster.sh start DIR           start munged, slurmctld and slurmd; wait for the node
#   scripts/slurm-cluster.sh stop DIR            stop them by their saved process ids (TERM, then KILL)
#   scripts/slurm-cluster.sh run DIR -- CMD...   start, run CMD with the cluster's environment, stop
#                                                (even when CMD fails or the script is interrupted);
#                                                exits with CMD's status
#   scripts/slurm-cluster.sh env DIR             print the `export` lines that point clients at DIR
#
# Everything lives under DIR: slurm.conf, the munge key and socket, state and spool directories,
# logs and process ids. Nothing under /etc is read or written (SLURM_CONF and -f point at DIR).
# The Debian packages slurm-wlm and munge are installed with apt-get when missing. Must run as
# root (slurmd launches jobs as their owner). Ports are picked free at start, so clusters in two
# DIRs can run side by side. Starting over a DIR whose cluster still runs stops it first; a stale
# DIR (daemons gone, old state) is cleaned and reused. Only DIR's own subfolders are removed.
#
# Environment: SLURM_CLUSTER_WAIT (seconds to wait for the node to be idle, default 60).
set -euo pipefail

prog=${0##*/}
die() {
  echo "$prog: $*" >&2
  exit 1
}
say() { echo "$prog: $*" >&2; }

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# --- packages -----------------------------------------------------------------------------------

need_cmds=(munged mungekey munge unmunge slurmctld slurmd sbatch squeue sinfo scontrol scancel)

ensure_packages() {
  local missing=0 c
  for c in "${need_cmds[@]}"; do
    command -v "$c" >/dev/null 2>&1 || missing=1
  done
  [ "$missing" = 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "Slurm or munge is missing and apt-get is not available"
  local pkgs=(slurm-wlm munge)
  say "installing ${pkgs[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${pkgs[@]}" >"${TMPDIR:-/tmp}/slurm-cluster-apt.log" 2>&1; then
    say "apt-get install failed; running apt-get update and trying again"
    apt-get update >>"${TMPDIR:-/tmp}/slurm-cluster-apt.log" 2>&1 || true
    apt-get install -y --no-install-recommends "${pkgs[@]}" >>"${TMPDIR:-/tmp}/slurm-cluster-apt.log" 2>&1 ||
      { tail -n 30 "${TMPDIR:-/tmp}/slurm-cluster-apt.log" >&2; die "could not install ${pkgs[*]}"; }
  fi
  for c in "${need_cmds[@]}"; do
    command -v "$c" >/dev/null 2>&1 || die "$c is still missing after installing ${pkgs[*]}"
  done
}

# --- processes ----------------------------------------------------------------------------------

# pid_of DIR NAME: the saved pid of NAME if that process is alive and is ours (its command line
# names the daemon and DIR, so a recycled pid is never signalled); empty otherwise.
pid_of() {
  local dir=$1 name=$2 pid cmd
  [ -f "$dir/pids/$name.pid" ] || return 0
  pid=$(cat "$dir/pids/$name.pid" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  [ -r "/proc/$pid/cmdline" ] || return 0
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  case "$cmd" in
    *"$name"*"$dir/"*) echo "$pid" ;;
  esac
}

alive() { kill -0 "$1" 2>/dev/null; }

# starting DIR NAME: the daemon NAME just started runs, or the subshell that will exec it has not
# done so yet (its command line is still the shell's, so pid_of cannot know it; not a zombie).
starting() {
  local pid state
  [ -n "$(pid_of "$1" "$2")" ] && return 0
  pid=$(cat "$1/pids/$2.pid" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || true)
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# daemon_pids DIR NAME...: the live daemons NAME of the cluster in DIR: the saved pids, and any
# other process NAME whose arguments name DIR's slurm.conf or munge socket (a pids/ folder
# removed while the cluster ran, or a start that was interrupted before saving its pids).
daemon_pids() {
  local dir=$1 name
  shift
  {
    for name in "$@"; do pid_of "$dir" "$name"; done
    # One ps for all processes; index() on ENVIRON compares literally, whatever DIR contains.
    ps -eo pid=,args= -ww 2>/dev/null |
      NAMES="$*" CONF="-f $dir/slurm.conf" SOCK="--socket=$dir/munge/munge.socket.2" awk '
        {
          cmd = $2
          sub(/.*\//, "", cmd)
          n = split(ENVIRON["NAMES"], want, " ")
          for (i = 1; i <= n; i++)
            if (cmd == want[i] && (index($0, ENVIRON["CONF"]) || index($0, ENVIRON["SOCK"]))) {
              print $1
              break
            }
        }'
  } | sort -un
}

# stop_pids SECONDS PID...: TERM, wait up to SECONDS, then KILL whatever is left.
stop_pids() {
  local wait=$1 p left i
  shift
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < wait * 10; i++)); do
    left=0
    for p in "$@"; do alive "$p" && left=1; done
    [ "$left" = 0 ] && return 0
    sleep 0.1
  done
  for p in "$@"; do
    if alive "$p"; then
      say "process $p did not stop on TERM; killing it"
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
  for ((i = 0; i < 50; i++)); do
    left=0
    for p in "$@"; do alive "$p" && left=1; done
    [ "$left" = 0 ] && return 0
    sleep 0.1
  done
  say "warning: processes still present after KILL: $*"
}

# Job steps that outlive slurmd (normally none: stop cancels jobs first): the slurmstepd
# processes that write to this cluster's slurmd log, with everything they started.
leftover_pids() {
  local dir=$1 pid target
  local -a roots=()
  for pid in $(ps -eo pid=,comm= 2>/dev/null | awk '$2 == "slurmstepd" { print $1 }'); do
    for target in /proc/"$pid"/fd/*; do
      if [ "$({ readlink "$target"; } 2>/dev/null)" = "$dir/log/slurmd.log" ]; then
        roots+=("$pid")
        break
      fi
    done
  done
  [ "${#roots[@]}" -gt 0 ] || return 0
  ps -eo pid=,ppid= | awk -v roots="${roots[*]}" '
    { parent[$1] = $2 }
    END {
      n = split(roots, r, " ")
      for (i = 1; i <= n; i++) mine[r[i]] = 1
      do {
        changed = 0
        for (p in parent) if (!(p in mine) && (parent[p] in mine)) { mine[p] = 1; changed = 1 }
      } while (changed)
      for (p in mine) print p
    }'
}

do_stop() {
  local dir=$1 pids=() i
  # Cancel jobs while the controller still answers, so job steps end cleanly.
  if [ -n "$(daemon_pids "$dir" slurmctld)" ] && [ -f "$dir/slurm.conf" ]; then
    local jobs
    jobs=$(SLURM_CONF="$dir/slurm.conf" timeout 10 squeue -h -o %A 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      say "cancelling jobs still queued or running: $(tr "\n" " " <<<"$jobs")"
      # shellcheck disable=SC2086
      SLURM_CONF="$dir/slurm.conf" timeout 10 scancel $jobs 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do
        [ -z "$(SLURM_CONF="$dir/slurm.conf" timeout 10 squeue -h -o %A 2>/dev/null || true)" ] && break
        sleep 0.1
      done
    fi
  fi
  mapfile -t pids < <(daemon_pids "$dir" slurmd slurmctld)
  stop_pids 10 "${pids[@]}"
  # Leftover job steps (slurmstepd and what it started).
  mapfile -t pids < <(leftover_pids "$dir")
  if [ "${#pids[@]}" -gt 0 ]; then
    say "stopping leftover job processes: ${pids[*]}"
    stop_pids 2 "${pids[@]}"
  fi
  mapfile -t pids < <(daemon_pids "$dir" munged)
  stop_pids 10 "${pids[@]}"
  rm -f "$dir"/pids/*.pid
  return 0
}

# --- configuration ------------------------------------------------------------------------------

# A TCP port nobody listens on, from a range away from the usual services.
port_in_use() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v h="$hex" 'NR > 1 { split($2, a, ":"); if (a[2] == h) found = 1 } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
free_port() {
  local p tries avoid=${1:-0}
  for ((tries = 0; tries < 200; tries++)); do
    p=$((20000 + RANDOM % 30000))
    [ "$p" = "$avoid" ] && continue
    [ "$((p + 1))" = "$avoid" ] && continue
    port_in_use "$p" && continue
    echo "$p"
    return 0
  done
  die "no free TCP port found"
}

write_conf() {
  local dir=$1 host=$2 ctld_port=$3 slurmd_port=$4 hw
  # The node's hardware exactly as slurmd sees it (CPUs, sockets, cores, threads, RealMemory).
  hw=$(slurmd -C 2>/dev/null | head -n 1 | sed -e 's/^NodeName=[^ ]* *//')
  [[ "$hw" == *CPUs=* && "$hw" == *RealMemory=* ]] ||
    hw="CPUs=$(nproc) RealMemory=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 1024))"
  cat >"$dir/slurm.conf" <<EOF
# Written by $prog: a private single-node cluster. Everything it uses is under this folder.
ClusterName=ptbench
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket.2
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
PlugStackConfig=$dir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName=$host NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  : >"$dir/plugstack.conf"
  cat >"$dir/env" <<EOF
export SLURM_CONF='$dir/slurm.conf'
EOF
}

dump_logs() {
  local dir=$1 f
  for f in "$dir/munge/munged.log" "$dir/log/munged.out" "$dir/log/slurmctld.log" \
    "$dir/log/slurmctld.out" "$dir/log/slurmd.log" "$dir/log/slurmd.out"; do
    [ -s "$f" ] || continue
    echo "----- $f (last 40 lines)" >&2
    tail -n 40 "$f" >&2
  done
}

# start_fail DIR MESSAGE: print the logs, stop what started, fail.
start_fail() {
  say "$2"
  dump_logs "$1"
  do_stop "$1"
  die "the cluster in $1 did not start"
}

do_start() {
  local dir=$1 host waited limit=${SLURM_CLUSTER_WAIT:-60} pid state
  [ "$(id -u)" = 0 ] || die "must run as root (slurmd starts jobs as their owner)"
  ensure_packages
  host=$(hostname -s)
  [ -n "$host" ] || die "hostname -s printed nothing"
  getent hosts "$host" >/dev/null 2>&1 || say "note: $host does not resolve; NodeAddr=127.0.0.1 is used"

  # Running twice, or over a stale folder: stop whatever ours still runs, then start afresh.
  do_stop "$dir"
  rm -rf "$dir/munge" "$dir/state" "$dir/spool" "$dir/log" "$dir/run" "$dir/pids"
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log" "$dir/run" "$dir/pids"
  chmod 0700 "$dir/munge"
  local sock="$dir/munge/munge.socket.2"
  [ "${#sock}" -lt 100 ] || die "DIR is too long for a Unix socket path: $sock"

  local ctld_port slurmd_port
  ctld_port=$(free_port)
  slurmd_port=$(free_port "$ctld_port")
  write_conf "$dir" "$host" "$ctld_port" "$slurmd_port"
  export SLURM_CONF="$dir/slurm.conf"

  # munge: a private key, socket, pid, log and seed file. --force: munged refuses some checks
  # when run as root or over a leftover socket; -F keeps it in the foreground so $! is its pid.
  mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 ||
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1 count=1024 status=none
  chmod 0400 "$dir/munge/munge.key"
  (cd "$dir" && exec munged -F --force --socket="$sock" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed") </dev/null >"$dir/log/munged.out" 2>&1 &
  echo $! >"$dir/pids/munged.pid"
  for ((waited = 0; ; waited++)); do
    if munge -n -S "$sock" 2>/dev/null | unmunge -S "$sock" >/dev/null 2>&1; then break; fi
    starting "$dir" munged || start_fail "$dir" "munged exited"
    [ "$waited" -lt $((limit * 10)) ] || start_fail "$dir" "munged did not answer within ${limit}s"
    sleep 0.1
  done

  # From DIR, so no daemon keeps the caller's folder busy; exec keeps $! the daemon's pid.
  (cd "$dir" && exec slurmctld -D -f "$dir/slurm.conf") </dev/null >"$dir/log/slurmctld.out" 2>&1 &
  echo $! >"$dir/pids/slurmctld.pid"
  (cd "$dir" && exec slurmd -D -N "$host" -f "$dir/slurm.conf") </dev/null >"$dir/log/slurmd.out" 2>&1 &
  echo $! >"$dir/pids/slurmd.pid"

  for ((waited = 0; ; waited++)); do
    state=$(timeout 10 sinfo -h -N -n "$host" -o %T 2>/dev/null | head -n 1 || true)
    case "$state" in
      idle) break ;;
      *drain* | *down* | *fail* | inval*)
        if [ "$waited" -gt 50 ]; then start_fail "$dir" "the node is $state"; fi
        ;;
    esac
    for name in slurmctld slurmd munged; do
      starting "$dir" "$name" || start_fail "$dir" "$name exited"
    done
    [ "$waited" -lt $((limit * 5)) ] || start_fail "$dir" "the node was not idle within ${limit}s (state: ${state:-none})"
    sleep 0.2
  done
  say "cluster up in $dir: node $host idle (slurmctld port $ctld_port, slurmd port $slurmd_port; SLURM_CONF=$dir/slurm.conf)"
}

# --- main ---------------------------------------------------------------------------------------

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
shift 2
[ -n "$dir" ] || usage
case "$dir" in
  *[[:space:]]*) die "DIR must not contain white space (slurm.conf paths cannot): $dir" ;;
esac
case "$cmd" in
  start | run) mkdir -p "$dir" ;;
  stop) [ -d "$dir" ] || { say "no folder $dir: nothing to stop"; exit 0; } ;;
esac
[ -d "$dir" ] || die "no folder $dir"
dir=$(cd "$dir" && pwd -P)

case "$cmd" in
  start)
    [ $# = 0 ] || usage
    do_start "$dir"
    ;;
  stop)
    [ $# = 0 ] || usage
    do_stop "$dir"
    say "cluster in $dir stopped"
    ;;
  env)
    [ $# = 0 ] || usage
    [ -f "$dir/env" ] || die "no cluster configured in $dir"
    cat "$dir/env"
    ;;
  run)
    [ "${1:-}" = "--" ] || usage
    shift
    [ $# -gt 0 ] || usage
    trap 'do_stop "$dir"; say "cluster in $dir stopped"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    do_start "$dir"
    export SLURM_CONF="$dir/slurm.conf"
    status=0
    "$@" || status=$?
    exit "$status"
    ;;
  *) usage ;;
esac
