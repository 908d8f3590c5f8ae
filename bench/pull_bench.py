#!/usr/bin/python3
"""Pull benchmark: a ~100 MB, 3-layer image from a local docker-registry, pulled cold (empty store) and
warm (already stored) through crispd's PullImage, beside `skopeo copy` of the same image into a local
directory (the network-and-disk bound). Prints figures; asserts nothing about them."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "e2e"))

import imagelib as il  # noqa: E402
from conftest import Crispd, pb  # noqa: E402


def timed(fn):
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def skopeo_copy(ref):
    dest = tempfile.mkdtemp(prefix="crisp-e2e-bench-")
    try:
        subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://" + ref, "dir:" + dest],
                       check=True, timeout=600)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def crisp_pull(d, ref):
    d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=ref)), timeout=600)


def crisp_remove(d, ref):
    d.call("RemoveImage", pb().RemoveImageRequest(image=pb().ImageSpec(image=ref)))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with il.Registry() as reg:
        il.build_large_image(reg, "bench/big", "v1", total_mb=args.size_mb, layers=args.layers)
        ref = "%s/bench/big:v1" % reg.host
        d = Crispd()
        try:
            skopeo, cold, warm = [], [], []
            for _ in range(args.runs):
                skopeo.append(timed(lambda: skopeo_copy(ref)))
                cold.append(timed(lambda: crisp_pull(d, ref)))
                warm.append(timed(lambda: crisp_pull(d, ref)))
                crisp_remove(d, ref)
            med = statistics.median
            print("pull %d MB in %d layers, median of %d runs:" % (args.size_mb, args.layers, args.runs))
            print("  skopeo copy to dir:  %7.3f s" % med(skopeo))
            print("  crisp cold pull:     %7.3f s  (%.2fx skopeo)" % (med(cold), med(cold) / med(skopeo)))
            print("  crisp warm pull:     %7.3f s" % med(warm))
        finally:
            d.stop()
            d.cleanup()


if __name__ == "__main__":
    main()
