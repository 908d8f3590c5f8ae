#!/bin/bash
# Runs e2e tests or any command inside the Debian 12 test VM (cgroup v2, systemd as PID 1).
#   vm/run.sh [options] [-- PYTEST-ARGS...]   e2e tests (default: all of test/e2e)
#   vm/run.sh [options] --sh 'COMMAND'        any shell command, run in the checkout as root
# Options:
#   --driver cgroupfs|systemd  cgroup driver of the suite's crispd instances (CRISP_E2E_CGROUP_DRIVER)
#   --build DIR                build folder, relative to the checkout (default build-vm); built on the
#                              host first with `make BUILD=DIR all` unless --no-build
#   --install                  `make install` the build in the guest and `systemctl start crisp` first
#   --timeout SECONDS          whole-VM timeout (default 3600)
#   --out DIR                  keep the job folder (output.log, console.log, boot.txt) in DIR
# Exit status: the job's (pytest's), 124 on timeout.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

driver=cgroupfs build=build-vm do_build=1 install=0 timeout=3600 out="" sh=""
while [ $# -gt 0 ]; do
    case $1 in
    --driver) driver=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --install) install=1; shift ;;
    --timeout) timeout=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --sh) sh=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) break ;;
    esac
done
case $driver in cgroupfs|systemd) ;; *) echo "run.sh: --driver cgroupfs or systemd" >&2; exit 2 ;; esac
[ $# -gt 0 ] || set -- test/e2e

if [ $do_build = 1 ]; then vm_host_build "$build" || exit 1; fi
vm_ensure_image || exit 1

if [ -n "$out" ]; then mkdir -p "$out" && job=$(cd "$out" && pwd); else job=$(mktemp -d /var/tmp/crisp-vm-job.XXXXXX); fi
rev=$(git -C "$VM_DIR/.." rev-parse --short HEAD 2>/dev/null)
{
    echo "set -u"
    echo "export CRISP_E2E_CGROUP_DRIVER=$driver CRISPD=\$CRISP_VM_SRC/$build/crispd-test"
    if [ $install = 1 ]; then
        echo "bash vm/install.sh $(printf %q "$build") $(printf %q "$rev") $driver || exit 1"
    fi
    if [ -n "$sh" ]; then
        echo "$sh"
    else
        printf '/usr/bin/python3 -m pytest -q -p no:cacheprovider'
        printf ' %q' "$@"; echo
    fi
} > "$job/job.sh"

vm_run "$job" "$timeout"
rc=$?
[ -n "$out" ] || { [ $rc = 0 ] && rm -rf "$job" || echo "vm: job folder kept: $job"; }
exit $rc
