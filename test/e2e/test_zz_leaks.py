"""Runs last: nothing a test started or made may be left on the machine."""
import glob
import os
import tempfile

import imagelib
from conftest import STARTED_PIDS, TMP_PREFIX


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_no_crispd_process_left():
    assert STARTED_PIDS, "the suite started no crispd"
    assert [p for p in STARTED_PIDS if alive(p)] == []


def test_no_registry_process_left():
    assert [p for p in imagelib.STARTED_PIDS if alive(p)] == []


def test_no_mount_left():
    with open("/proc/self/mounts") as f:
        mounts = [l.split()[1] for l in f]
    assert [m for m in mounts if TMP_PREFIX in m] == []


def test_no_temp_dir_left():
    assert glob.glob(os.path.join(tempfile.gettempdir(), TMP_PREFIX + "*")) == []


def test_no_network_namespace_left():
    names = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
    assert [n for n in names if "crisp" in n] == []


def test_no_cgroup_left():
    left = glob.glob("/sys/fs/cgroup/*/" + TMP_PREFIX + "*") + glob.glob("/sys/fs/cgroup/unified/" + TMP_PREFIX + "*")
    assert left == []


def living(comm):
    """Live processes named comm. A zombie is dead already: this VM's init reaps orphans slowly."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().strip() != comm:
                    continue
            if alive(int(pid)):
                found.append(pid)
        except (OSError, ValueError):
            pass
    return found


def test_no_monitor_left():
    assert living("crisp-monitor") == []


def test_no_pod_init_left():
    assert living("crisp-pod-init") == []
