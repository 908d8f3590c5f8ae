#!/bin/bash
# Builds the test VM's Debian 12 image into $1 (a directory): rootfs.img (raw ext4, root on /dev/vda),
# vmlinuz and initrd.img (for qemu's direct kernel boot). Needs root, mmdebstrap and e2fsprogs.
# Everything the image holds comes from Debian's packages (vm/packages.txt) plus the files under
# vm/guest/ (the unit and script that run a job at boot); vm/vm.sh hashes all of them into the cache
# name, so editing any of them rebuilds the image.
set -euo pipefail

out=${1:?usage: build-image.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
size=${VM_DISK_SIZE:-12G}
mirror=${VM_MIRROR:-http://deb.debian.org/debian}
security=${VM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

packages=$(grep -v '^\s*\(#\|$\)' "$here/packages.txt" | paste -sd, -)
work=$(mktemp -d "${TMPDIR:-/var/tmp}/crisp-vm-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

# The host's apt settings (proxy, snapshot date checks) apply inside too.
aptopts=()
for f in /etc/apt/apt.conf.d/*; do
    if grep -qiE '^\s*Acquire::(http|https)::Proxy|Check-Valid-Until' "$f" 2>/dev/null; then
        aptopts+=(--aptopt="$f")
    fi
done

# Debian's initramfs (initramfs-tools, with udev) costs ~6 s of TCG time; the VM boots with its own
# instead (make_initrd below). This keeps the one the kernel package builds small and quick to make.
setup_hook='mkdir -p "$1/etc/initramfs-tools/conf.d"
printf "MODULES=list\nCOMPRESS=gzip\n" > "$1/etc/initramfs-tools/conf.d/crisp-vm"'

customize_hook='set -e
echo crisp-vm > "$1/etc/hostname"
printf "127.0.0.1 localhost crisp-vm\n::1 localhost\n" > "$1/etc/hosts"
printf "/dev/vda / ext4 defaults,noatime 0 1\n" > "$1/etc/fstab"
install -m 0755 '"$here"'/guest/crisp-vm-job "$1/usr/local/sbin/crisp-vm-job"
install -m 0644 '"$here"'/guest/crisp-vm-job.service "$1/etc/systemd/system/crisp-vm-job.service"
chroot "$1" systemctl enable crisp-vm-job.service
chroot "$1" systemctl enable serial-getty@ttyS0.service
# Nothing a throwaway test node needs: timers, the packaged registry (the tests start their own), fsck.
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
         docker-registry.service systemd-timesyncd.service man-db.timer dpkg-db-backup.timer; do
    chroot "$1" systemctl mask "$u" >/dev/null 2>&1 || true
done
chroot "$1" passwd -d root >/dev/null
rm -f "$1/etc/machine-id" && : > "$1/etc/machine-id"
rm -rf "$1/var/cache/apt/archives/"*.deb "$1/var/lib/apt/lists/"*'

mmdebstrap --mode=root --variant=minbase --include="$packages" "${aptopts[@]}" \
    --setup-hook="$setup_hook" --customize-hook="$customize_hook" \
    bookworm "$root" \
    "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main"

# A minimal initramfs: static busybox, the modules that mount a virtio-blk ext4 root (in the order
# modprobe resolves them), and an /init that loads them, mounts /dev/vda and switches to systemd.
make_initrd() {
    local kver; kver=$(ls "$root/lib/modules")
    local d=$work/initrd
    mkdir -p "$d/bin" "$d/dev" "$d/proc" "$d/sys" "$d/newroot" "$d/lib/modules"
    cp "$root/bin/busybox" "$d/bin/busybox"
    {
        echo '#!/bin/busybox sh'
        echo '/bin/busybox mount -t devtmpfs dev /dev; /bin/busybox mount -t proc proc /proc'
        chroot "$root" modprobe -a -S "$kver" --show-depends virtio_pci virtio_blk ext4 |
            awk '$1 == "insmod" && !seen[$2]++ {print $2}' | while read -r m; do
            cp "$root$m" "$d/lib/modules/"
            echo "/bin/busybox insmod /lib/modules/${m##*/}"
        done
        cat <<'INIT'
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do /bin/busybox sleep 0.1; i=$((i+1)); done
/bin/busybox mount -t ext4 -o rw /dev/vda /newroot || { echo "initrd: cannot mount /dev/vda"; exit 1; }
/bin/busybox umount /proc; /bin/busybox umount /dev
exec /bin/busybox switch_root /newroot /sbin/init
INIT
    } > "$d/init"
    chmod 0755 "$d/init"
    (cd "$d" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out/initrd.img.tmp"
}

mkdir -p "$out"
cp -L "$root"/boot/vmlinuz-* "$out/vmlinuz.tmp"
make_initrd
rm -f "$out/rootfs.img.tmp"
mkfs.ext4 -q -L crisp-vm -d "$root" "$out/rootfs.img.tmp" "$size"
for f in vmlinuz initrd.img rootfs.img; do mv "$out/$f.tmp" "$out/$f"; done
