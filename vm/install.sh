#!/bin/bash
# In the guest: installs the host-built crisp with `make install` (`-o all`: the host built it, and the
# guest has no compiler) and starts the crisp.service unit with the chosen cgroup driver.
# usage: vm/install.sh BUILD GIT_REV DRIVER
set -eu
build=$1 rev=$2 driver=$3
make -s BUILD="$build" GIT_REV="$rev" PREFIX=/usr/local -o all install
mkdir -p /etc/crisp/crisp.json.d
printf '{"cgroup_driver": "%s", "default_cgroup_parent": "%s"}\n' "$driver" \
    "$([ "$driver" = systemd ] && echo /crisp.slice || echo /crisp)" > /etc/crisp/crisp.json.d/50-vm.json
systemctl daemon-reload
systemctl start crisp
systemctl is-active crisp
