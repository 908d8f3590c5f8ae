"""Fault injection in the image store: crispd killed (SIGKILL) at named crash points of a pull and of
a removal. After the restart the store holds whole images only: an interrupted pull left no layer,
blob or temporary file behind, an interrupted removal finished, and pulling again works."""
import os

import pytest

import crashlib
import imagelib as il
from conftest import pb


@pytest.fixture(scope="module")
def registry():
    r = il.Registry()
    yield r
    r.cleanup()


@pytest.fixture(scope="module")
def image(registry):
    layers = [[il.file("a", b"first layer")], [il.file("b", b"second layer")], [il.file("c", b"third")]]
    return il.build_image_from_layers(registry, "test/crash", "v1", layers)


def pull(d, ref):
    return d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=ref)), timeout=120).image_ref


def images(d):
    return [i.id for i in d.call("ListImages", pb().ListImagesRequest()).images]


def store_files(d):
    """Every file and directory in the store but its empty skeleton."""
    found = []
    for sub in ("layers", "images", "tmp", "blobs/sha256"):
        top = os.path.join(d.root, sub)
        found += ["%s/%s" % (sub, n) for n in sorted(os.listdir(top))] if os.path.isdir(top) else []
    return found


def used_bytes(d):
    return d.call("ImageFsInfo", pb().ImageFsInfoRequest()).image_filesystems[0].used_bytes.value


# A pull of three layers with one download at a time, crashed after its first layer, after its last
# layer, and after every layer but before the image record that makes the image exist.
@pytest.mark.parametrize("point", ["pull.after_layer", "pull.after_layer@3", "pull.before_image_record"])
def test_interrupted_pull_leaves_nothing(crispd_factory, image, point):
    d = crispd_factory(config={"image": {"max_concurrent_downloads": 1}}, env={"CRISP_CRASH_AT": point})
    crashlib.expect_crash(d, point, lambda: pull(d, image.ref))
    assert store_files(d) != []  # the crash left something for the restart to clear
    crashlib.restart(d)
    assert images(d) == []
    assert store_files(d) == [] and used_bytes(d) == 0
    assert pull(d, image.ref) == image.config_digest
    assert images(d) == [image.config_digest]
    d.call("RemoveImage", pb().RemoveImageRequest(image=pb().ImageSpec(image=image.ref)))
    assert store_files(d) == []


def test_interrupted_removal_finishes_at_start(crispd_factory, image):
    point = "image.remove.after_record"
    d = crispd_factory()
    assert pull(d, image.ref) == image.config_digest
    d.stop()
    crashlib.arm(d, point)
    d.start()
    crashlib.expect_crash(
        d, point, lambda: d.call("RemoveImage", pb().RemoveImageRequest(image=pb().ImageSpec(image=image.ref))))
    crashlib.restart(d)
    assert images(d) == []
    assert store_files(d) == [] and used_bytes(d) == 0
    assert pull(d, image.ref) == image.config_digest


def test_image_kept_across_a_crash_elsewhere(crispd_factory, image, registry):
    """Collecting orphans at start-up must not touch a whole image, nor the layers it shares with an
    interrupted pull."""
    other = il.build_image_from_layers(registry, "test/crash-other", "v1",
                                       [[il.file("a", b"first layer")], [il.file("z", b"other top")]])
    d = crispd_factory()
    assert pull(d, image.ref) == image.config_digest
    before = store_files(d)
    d.stop()
    crashlib.arm(d, "pull.before_image_record")
    d.start()
    crashlib.expect_crash(d, "pull.before_image_record",
                          lambda: pull(d, "%s/test/crash-other:v1" % registry.host))
    crashlib.restart(d)
    assert images(d) == [image.config_digest]
    assert store_files(d) == before
    assert pull(d, image.ref) == image.config_digest
    assert pull(d, "%s/test/crash-other:v1" % registry.host) == other.config_digest
