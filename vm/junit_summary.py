"""Per-file figures of a pytest --junitxml report: tests, failed, skipped, seconds; the slowest first.
vm/vm-test.sh prints them to help choose a VM_TESTS subset that fits CI."""
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


def main(path):
    files = defaultdict(lambda: [0, 0, 0, 0.0])
    for case in ET.parse(path).getroot().iter("testcase"):
        # classname is the module's dotted path, plus ".Class" for tests in a class.
        parts = case.get("classname", "?").split(".")
        mod = next((i for i, p in enumerate(parts) if p.startswith("test_")), len(parts) - 1)
        f = files["/".join(parts[:mod + 1]) + ".py"]
        f[0] += 1
        f[1] += any(case.find(t) is not None for t in ("failure", "error"))
        f[2] += case.find("skipped") is not None
        f[3] += float(case.get("time", 0))
    for name, (n, failed, skipped, secs) in sorted(files.items(), key=lambda kv: -kv[1][3]):
        print("    %-42s %4d tests %3d failed %3d skipped %7.1f s" % (name, n, failed, skipped, secs))


if __name__ == "__main__":
    main(sys.argv[1])
