#!/bin/bash
# `make vm-test`: crisp on a stock Debian 12 node (cgroup v2, systemd PID 1) in a throwaway VM. Builds
# crisp on the host, boots the cached image once, and inside it, for each cgroup driver: installs crisp
# with `make install`, checks crisp.service (vm/test_crisp_service.py: Type=notify start, clean stop,
# a container surviving restarts), then runs the e2e suite. Prints pytest's summary line per run and
# exits non-zero when any run failed or the VM timed out.
# Environment: BUILD (default build-vm), VM_TESTS (pytest arguments, default test/e2e), VM_DRIVERS
# (default "cgroupfs systemd"), VM_TIMEOUT (seconds for the whole VM, default 5400), VM_CACHE, VM_CPUS,
# VM_MEM, VM_APPEND (kernel arguments), VM_OUT (keep the job folder there).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

build=${BUILD:-build-vm}
tests=${VM_TESTS:-test/e2e}
drivers=${VM_DRIVERS:-cgroupfs systemd}
timeout=${VM_TIMEOUT:-5400}
start=$SECONDS

vm_host_build "$build" || exit 1
built_before=1; [ -f "$(vm_image_dir)/rootfs.img" ] || built_before=0
vm_ensure_image || exit 1
image_note="cached, built in $(cat "$(vm_image_dir)/build-seconds" 2>/dev/null || echo ?) s"
[ $built_before = 1 ] || image_note="built now in $(cat "$(vm_image_dir)/build-seconds") s"

if [ -n "${VM_OUT:-}" ]; then mkdir -p "$VM_OUT" && job=$(cd "$VM_OUT" && pwd) && rm -f "$job"/summary-*; else job=$(mktemp -d /var/tmp/crisp-vm-job.XXXXXX); fi
rev=$(git -C "$VM_DIR/.." rev-parse --short HEAD 2>/dev/null)
# run NAME CMD...: one pytest run, its summary line (pytest's last) and time in /vmjob/summary-NAME.
cat > "$job/job.sh" <<JOB
set -u
fail=0
run() {
    local name=\$1 t=\$(date +%s); shift
    echo "=== \$name"
    "\$@" 2>&1 | tee /vmjob/\$name.log
    local rc=\${PIPESTATUS[0]}
    echo "\$(tail -1 /vmjob/\$name.log) [\$((\$(date +%s) - t)) s, exit \$rc]" > /vmjob/summary-\$name
    [ \$rc = 0 ] || fail=1
}
pytest() { /usr/bin/python3 -m pytest -q -p no:cacheprovider "\$@"; }
for driver in $drivers; do
    bash vm/install.sh $(printf %q "$build") $(printf %q "$rev") \$driver > /vmjob/install-\$driver.log 2>&1 ||
        { echo "install (\$driver) failed:"; cat /vmjob/install-\$driver.log; fail=1; continue; }
    run service-\$driver pytest -s vm/test_crisp_service.py
    systemctl stop crisp
    CRISP_E2E_CGROUP_DRIVER=\$driver CRISPD=\$CRISP_VM_SRC/$build/crispd-test \\
        run e2e-\$driver pytest -rfE --junitxml=/vmjob/e2e-\$driver.xml $tests
done
exit \$fail
JOB

vm_run "$job" "$timeout"
rc=$?
echo "=== vm-test summary (image: $image_note; $(nproc) host CPUs, TCG, ${VM_CPUS:-2} vCPUs)"
sed 's/^/    boot: /' "$job/boot.txt" 2>/dev/null | grep -E 'uptime|startup'
for f in "$job"/summary-*; do
    [ -f "$f" ] && printf '    %-18s %s\n' "${f##*/summary-}:" "$(cat "$f")"
done
for x in "$job"/e2e-*.xml; do
    [ -f "$x" ] && echo "    per file, ${x##*/}:" && /usr/bin/python3 "$VM_DIR/junit_summary.py" "$x"
done
echo "    total: $((SECONDS - start)) s, exit $rc"
[ -n "${VM_OUT:-}" ] || { [ $rc = 0 ] && rm -rf "$job" || echo "vm: job folder kept: $job"; }
exit $rc
