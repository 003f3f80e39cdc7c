#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine, for the template's SLURM tests.
# As root: installs Debian's slurm-wlm and munge with apt when missing, writes a slurm.conf
# for this one host (its CPUs and memory), starts munged, slurmctld and slurmd, and waits
# until `sinfo` shows the node idle. A second call with everything up does nothing.
# Not root, or no apt: says why and exits 1 (the SLURM tests then skip, unless
# FISHBOTICS_REQUIRE_SLURM=1 makes them fail).
set -euo pipefail

HOST="$(hostname -s)"
CONF=/etc/slurm/slurm.conf

node_state() {
    sinfo --noheader --nodes="$HOST" --format=%T 2>/dev/null | head -n 1 || true
}

if command -v sinfo >/dev/null && pgrep -x munged >/dev/null && pgrep -x slurmctld >/dev/null \
    && pgrep -x slurmd >/dev/null && [ "$(node_state)" = idle ]; then
    echo "start-slurm: SLURM is already up ($HOST idle); nothing to do"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "start-slurm: needs root (to install packages and start munged, slurmctld and slurmd)" >&2
    exit 1
fi

if ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    if ! command -v apt-get >/dev/null; then
        echo "start-slurm: slurm-wlm and munge are missing and there is no apt-get to install them" >&2
        exit 1
    fi
    echo "start-slurm: installing slurm-wlm and munge with apt"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

# munge authenticates slurmctld and slurmd to each other; the package makes a key on install.
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
        || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! pgrep -x munged >/dev/null; then
    echo "start-slurm: starting munged"
    runuser -u munge -- munged
fi

# The node's size comes from the machine; RealMemory a little under the total, which
# slurmd otherwise reports as too small and drains the node.
CPUS="$(nproc)"
MEMORY_MB="$(awk '/MemTotal/ {print int($2 / 1024 * 0.95)}' /proc/meminfo)"
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
chown slurm:slurm /var/spool/slurmctld /var/log/slurm 2>/dev/null || true
WANTED_CONF="$(cat <<EOF
# Written by the template's scripts/start-slurm.sh: a single-node cluster for tests.
ClusterName=fishbotics
SlurmctldHost=$HOST
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SlurmUser=slurm
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
NodeName=$HOST CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
)"
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$WANTED_CONF" ]; then
    echo "start-slurm: writing $CONF ($CPUS CPUs, ${MEMORY_MB} MB)"
    printf '%s\n' "$WANTED_CONF" > "$CONF"
    # A changed configuration needs fresh daemons.
    for daemon in slurmd slurmctld; do
        if pids="$(pgrep -x "$daemon")"; then
            kill $pids
        fi
    done
    sleep 1
fi

if ! pgrep -x slurmctld >/dev/null; then
    echo "start-slurm: starting slurmctld"
    slurmctld
fi
if ! pgrep -x slurmd >/dev/null; then
    echo "start-slurm: starting slurmd"
    slurmd
fi

for _ in $(seq 60); do
    state="$(node_state)"
    if [ "$state" = idle ]; then
        echo "start-slurm: SLURM is up ($HOST idle, $CPUS CPUs)"
        exit 0
    fi
    # A node left down or drained by an earlier configuration comes back with a resume.
    case "$state" in
        down*|drain*) scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 1
done
echo "start-slurm: the node $HOST is not idle after 60 s (state: ${state:-unknown});" \
    "see /var/log/slurm/slurmctld.log and slurmd.log" >&2
exit 1
