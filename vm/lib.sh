# Shared by vm/run.sh and vm/vm-test.sh (sourced): where the cached image lives, building it once per
# recipe, and booting it.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_CACHE=${VM_CACHE:-/var/cache/crisp-vm}

# The recipe: the build script, the package list and every file baked into the image. Its hash names
# the image, so a changed recipe builds a new one (older ones are removed once the new one is ready).
vm_recipe_hash() {
    (cd "$VM_DIR" && cat build-image.sh packages.txt guest/*) | sha256sum | cut -c1-16
}

vm_image_dir() { echo "$VM_CACHE/bookworm-$(vm_recipe_hash)"; }

# Builds the image unless the cache has it; a lock serialises concurrent callers.
vm_ensure_image() {
    local dir; dir=$(vm_image_dir)
    [ -f "$dir/rootfs.img" ] && return 0
    mkdir -p "$VM_CACHE"
    (
        flock 9
        [ -f "$dir/rootfs.img" ] && exit 0
        for t in mmdebstrap mkfs.ext4 cpio qemu-system-x86_64; do
            command -v "$t" >/dev/null || missing="${missing:-} $t"
        done
        if [ -n "${missing:-}" ]; then
            echo "vm: installing mmdebstrap, qemu" >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                mmdebstrap qemu-system-x86 qemu-utils e2fsprogs cpio >/dev/null || exit 1
        fi
        echo "vm: building the Debian 12 image in $dir (once per recipe)" >&2
        local start=$SECONDS
        "$VM_DIR/build-image.sh" "$dir.tmp" >"$VM_CACHE/build.log" 2>&1 || {
            echo "vm: image build failed, see $VM_CACHE/build.log" >&2; tail -20 "$VM_CACHE/build.log" >&2
            rm -rf "$dir.tmp"; exit 1; }
        rm -rf "$dir" && mv "$dir.tmp" "$dir"
        echo "$((SECONDS - start))" > "$dir/build-seconds"
        echo "vm: image built in $((SECONDS - start)) s" >&2
        for old in "$VM_CACHE"/bookworm-*; do
            [ "$old" = "$dir" ] || rm -rf "$old"
        done
    ) 9>"$VM_CACHE/.lock"
}

# vm_boot JOBDIR SRC TIMEOUT: boots the image with JOBDIR shared as "job" and SRC as "src" (mounted at
# the same path inside), waits for the guest to power off or TIMEOUT seconds, and returns the job's
# exit status (124 on timeout, 125 when the guest wrote none). The serial console goes to
# JOBDIR/console.log.
vm_boot() {
    local job=$1 src=$2 timeout=$3 dir; dir=$(vm_image_dir)
    local accel=(-accel tcg,thread=multi)
    # /dev/kvm exists here but without VMX it cannot run guests; qemu falls back to TCG by itself
    # when KVM fails, but probing first keeps its error off the console.
    if [ -w /dev/kvm ] && grep -qE 'vmx|svm' /proc/cpuinfo; then accel=(-accel kvm "${accel[@]}"); fi
    rm -f "$job/rc"
    timeout --foreground -k 10 "$timeout" qemu-system-x86_64 \
        "${accel[@]}" -cpu max -smp "${VM_CPUS:-2}" -m "${VM_MEM:-4G}" \
        -machine q35 -nodefaults -no-user-config -display none -nic none \
        -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
        -append "root=/dev/vda rw console=ttyS0 quiet loglevel=4 panic=-1 crispvm.src=$src ${VM_APPEND:-}" \
        -drive "file=$dir/rootfs.img,format=raw,if=virtio,cache=unsafe" -snapshot \
        -virtfs "local,path=$src,mount_tag=src,security_model=none,id=src" \
        -virtfs "local,path=$job,mount_tag=job,security_model=none,id=job" \
        -serial "file:$job/console.log" -no-reboot </dev/null >"$job/qemu.log" 2>&1
    local q=$?
    [ $q = 124 ] && return 124
    [ -f "$job/rc" ] || return 125
    return "$(cat "$job/rc")"
}

# vm_run JOBDIR TIMEOUT: boots with JOBDIR/job.sh as the job, streaming its output to stdout while the
# guest runs; prints the boot figures; returns the job's exit status as vm_boot does.
vm_run() {
    local job=$1 timeout=$2 src; src=$(cd "$VM_DIR/.." && pwd)
    : > "$job/output.log"
    tail -n +1 -F "$job/output.log" 2>/dev/null &
    local tailpid=$! start=$SECONDS rc=0
    vm_boot "$job" "$src" "$timeout" || rc=$?
    sleep 0.3; kill "$tailpid" 2>/dev/null; wait "$tailpid" 2>/dev/null
    local up; up=$(sed -n 's/^job_start_uptime=//p' "$job/boot.txt" 2>/dev/null)
    echo "vm: wall time $((SECONDS - start)) s; guest uptime at job start ${up:-?} s;" \
        "$(sed -n 's/^startup=//p' "$job/boot.txt" 2>/dev/null)"
    case $rc in
    124) echo "vm: TIMEOUT after $timeout s (console: $job/console.log)" ;;
    125) echo "vm: the guest wrote no exit status (console: $job/console.log)"; tail -30 "$job/console.log" ;;
    esac
    return $rc
}

# vm_host_build BUILD: builds crisp on the host (same Debian 12 libraries as the guest), so the guest
# only installs and runs.
vm_host_build() {
    make -C "$VM_DIR/.." -s BUILD="$1" all >&2
}
