#!/usr/bin/env bash
# One worker over ssh and one popen worker, each pinning its GPU through its gateway, on CPU with tiny pipelines.
# The ssh host is this machine: an sshd started here on 127.0.0.1 with a throwaway host key and a client key
# authorized in a file of its own (nothing in ~/.ssh changes); the "remote" worker runs in its own copy of the suite
# (`//chdir`) with its own temporary folder, so it shares no disk path with the controller.
# Usage (from the repository root, diffbench installed in the venv): baselines/cpu/xdist-ssh/run.sh [VENV]
set -euo pipefail
venv=${1:-/work/venv}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d)
trap 'kill "$sshd_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

ssh-keygen -q -t ed25519 -N "" -f "$work/host_key"
ssh-keygen -q -t ed25519 -N "" -f "$work/client_key"
cp "$work/client_key.pub" "$work/authorized_keys"
port=$("$venv/bin/python" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
cat > "$work/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $work/host_key
AuthorizedKeysFile $work/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
EOF
cat > "$work/ssh_config" <<EOF
Host benchhost
  HostName 127.0.0.1
  Port $port
  User $(id -un)
  IdentityFile $work/client_key
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile $work/known_hosts
  BatchMode yes
  LogLevel ERROR
EOF
mkdir -p /run/sshd
/usr/sbin/sshd -D -e -f "$work/sshd_config" 2> "$work/sshd.log" &
sshd_pid=$!
for _ in $(seq 40); do ssh -F "$work/ssh_config" benchhost true 2>/dev/null && break; sleep 0.5; done

# The other host's copy of the suite (on a real second host: rsync the working tree, or a checkout of the same commit)
mkdir -p "$work/remote" "$work/remote-tmp"
cp "$root/pyproject.toml" "$root/conftest.py" "$work/remote/"
cp -r "$root/benchmarks" "$work/remote/"

over_ssh="ssh=benchhost//ssh_config=$work/ssh_config//python=$venv/bin/python//chdir=$work/remote"
over_ssh+="//env:CUDA_VISIBLE_DEVICES=0//env:TMPDIR=$work/remote-tmp"
cd "$root"
run() {  # the command as typed, then its output (the last $lines lines)
    local lines=$1
    shift
    printf '$ %s\n' "$*"
    { "$@" 2>&1 || echo "(exit status $?)"; } | tail -n "$lines"
}
{
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), $(nproc) CPUs; ssh gateway = this host via 127.0.0.1:$port"
    echo "# 1. as in the issue: 'benchmarks' as a path argument (xdist refuses it with an ssh gateway)"
    run 3 "$venv/bin/pytest" benchmarks --models flux-dev --quant bf16,int8wo --steps 2 --rounds 3 \
        -p no:cacheprovider --tx "$over_ssh" --tx popen//env:CUDA_VISIBLE_DEVICES=1 --benchmark-json="$here/out.json"
    echo
    echo "# 2. the suite selected by testpaths, the JSON path as --benchmark-json=PATH"
    run 1000 "$venv/bin/pytest" -o testpaths=benchmarks --models flux-dev --quant bf16,int8wo --steps 2 --rounds 3 \
        -p no:cacheprovider --tx "$over_ssh" --tx popen//env:CUDA_VISIBLE_DEVICES=1 --benchmark-json="$here/out.json"
    echo
    echo "# sshd's log (the ssh worker's login), what the ssh worker's folders hold afterwards"
    grep -E "Accepted|Server listening" "$work/sshd.log" || true
    echo "remote chdir: $(ls "$work/remote" | tr '\n' ' ')"
    echo "remote temporary folder: $(ls -A "$work/remote-tmp" | tr '\n' ' ')"
    echo "next to out.json: $(ls "$here" | tr '\n' ' ')"
} | sed "s#$work#<tmp>#g" | tee "$here/output.txt"
