"""The image service against real registries on 127.0.0.1 (Debian's docker-registry), with images the
tests build: pulls by tag, digest and mirror, platforms, layer contents, auth, failures that must
leave nothing behind, concurrency, removal with garbage collection, and restarts."""
import concurrent.futures
import json
import os
import signal
import stat
import threading
import time

import grpc
import pytest

import imagelib as il
from conftest import pb


@pytest.fixture(scope="module")
def registry():
    r = il.Registry()
    yield r
    r.cleanup()


@pytest.fixture(scope="module")
def busybox(registry):
    return il.build_busybox_image(registry, "library/busybox", "1.36", user="1000")


@pytest.fixture(scope="module")
def layered(registry):
    """Two layers: the second deletes a file (whiteout), replaces a directory (opaque) and hardlinks."""
    base = [il.directory("etc"), il.file("etc/keep", b"keep"), il.file("etc/gone", b"gone"),
            il.directory("data"), il.file("data/old", b"old")]
    top = [il.whiteout("etc/gone"), il.opaque("data"), il.file("data/new", b"new", mode=0o640, uid=1000, gid=1000),
           il.file("bin/tool", b"#!/bin/sh\n", mode=0o755), il.hardlink("bin/tool-link", "bin/tool"),
           il.symlink("bin/abs", "/etc/keep"), il.fifo("run/fifo")]
    return il.build_image_from_layers(registry, "test/layered", "v1", [base, top], compression=["gzip", "zstd"])


def pull(d, image, auth=None, timeout=120):
    req = pb().PullImageRequest(image=pb().ImageSpec(image=image), auth=auth)
    return d.call("PullImage", req, timeout=timeout).image_ref


def status(d, image, verbose=False):
    return d.call("ImageStatus", pb().ImageStatusRequest(image=pb().ImageSpec(image=image), verbose=verbose))


def list_images(d, ref=None):
    f = pb().ImageFilter(image=pb().ImageSpec(image=ref)) if ref else None
    return list(d.call("ListImages", pb().ListImagesRequest(filter=f)).images)


def remove(d, image):
    d.call("RemoveImage", pb().RemoveImageRequest(image=pb().ImageSpec(image=image)))


def layer_dir(d, chain_id):
    return os.path.join(d.root, "layers", chain_id.split(":")[1], "diff")


def chain_ids(diff_ids):
    out = []
    for diff in diff_ids:
        out.append(diff if not out else il.sha256_digest(("%s %s" % (out[-1], diff)).encode()))
    return out


def store_is_empty(d):
    return (os.listdir(os.path.join(d.root, "layers")) == [] and os.listdir(os.path.join(d.root, "images")) == []
            and os.listdir(os.path.join(d.root, "tmp")) == [])


def test_pull_by_tag_and_status(crispd, registry, busybox):
    ref = "%s/library/busybox:1.36" % registry.host
    image_id = pull(crispd, ref)
    assert image_id == busybox.config_digest
    img = status(crispd, ref).image
    assert img.id == busybox.config_digest
    assert list(img.repo_tags) == [ref]
    assert list(img.repo_digests) == ["%s/library/busybox@%s" % (registry.host, busybox.manifest_digest)]
    assert img.uid.value == 1000 and img.username == ""
    assert img.size >= sum(busybox.layer_sizes)
    # The same image by id, short id and digest reference.
    for name in (image_id, image_id[7:], image_id[7:19], img.repo_digests[0]):
        assert status(crispd, name).image.id == image_id
    info = json.loads(status(crispd, ref, verbose=True).info["info"])
    assert info["imageSpec"]["config"]["User"] == "1000"
    assert info["imageSpec"]["rootfs"]["diff_ids"] == busybox.diff_ids
    assert [i.id for i in list_images(crispd)] == [image_id]
    assert [i.id for i in list_images(crispd, ref)] == [image_id]
    assert list_images(crispd, "%s/library/busybox:none" % registry.host) == []


def test_absent_image_status_is_empty_not_an_error(crispd):
    r = status(crispd, "example.com/nothing:here")
    assert not r.HasField("image")


def test_pull_by_digest(crispd, registry, busybox):
    ref = "%s/library/busybox@%s" % (registry.host, busybox.manifest_digest)
    assert pull(crispd, ref) == busybox.config_digest
    img = status(crispd, ref).image
    assert list(img.repo_tags) == []
    assert list(img.repo_digests) == [ref]


def test_short_name_through_mirror_keeps_its_name(crispd_factory, registry, busybox):
    d = crispd_factory(config={"registries": {"docker.io": {"mirrors": ["http://" + registry.host]}}})
    assert pull(d, "busybox:1.36") == busybox.config_digest
    img = status(d, "docker.io/library/busybox:1.36").image
    assert list(img.repo_tags) == ["docker.io/library/busybox:1.36"]
    assert list(img.repo_digests) == ["docker.io/library/busybox@" + busybox.manifest_digest]
    assert status(d, "busybox:1.36").image.id == busybox.config_digest
    assert d.stop() == 0


def test_layers_unpacked_with_whiteouts_opaque_dirs_and_links(crispd, registry, layered):
    pull(crispd, "%s/test/layered:v1" % registry.host)
    base, top = [layer_dir(crispd, c) for c in chain_ids(layered.diff_ids)]
    with open(os.path.join(base, "etc/gone")) as f:
        assert f.read() == "gone"
    wh = os.lstat(os.path.join(top, "etc/gone"))
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert os.getxattr(os.path.join(top, "data"), "trusted.overlay.opaque") == b"y"
    new = os.lstat(os.path.join(top, "data/new"))
    assert stat.S_IMODE(new.st_mode) == 0o640 and (new.st_uid, new.st_gid) == (1000, 1000)
    assert new.st_mtime == il.DEFAULT_MTIME
    assert os.lstat(os.path.join(top, "bin/tool")).st_ino == os.lstat(os.path.join(top, "bin/tool-link")).st_ino
    assert os.readlink(os.path.join(top, "bin/abs")) == "/etc/keep"
    assert stat.S_ISFIFO(os.lstat(os.path.join(top, "run/fifo")).st_mode)
    assert not os.path.exists(os.path.join(top, "etc/.wh.gone"))


def test_docker_media_types(crispd, registry):
    img = il.build_image_from_layers(registry, "test/docker", "v1", [[il.file("hello", b"hi")]], media="docker")
    assert pull(crispd, "%s/test/docker:v1" % registry.host) == img.config_digest


def test_platform_is_chosen_from_an_index(crispd, registry):
    index = il.build_multiplatform_index(registry, "test/multi", "v1")
    arch = il.host_platform()[1]
    mine = index.child("linux", arch)
    assert pull(crispd, "%s/test/multi:v1" % registry.host) == mine.config_digest
    img = status(crispd, mine.config_digest).image
    assert list(img.repo_digests) == ["%s/test/multi@%s" % (registry.host, index.manifest_digest)]
    with open(os.path.join(layer_dir(crispd, chain_ids(mine.diff_ids)[-1]), "platform")) as f:
        assert f.read().strip().startswith("linux/" + arch)


def test_missing_platform_names_what_exists(crispd, registry):
    il.build_multiplatform_index(registry, "test/foreign", "v1", platforms=[("linux", "s390x", ""),
                                                                          ("linux", "arm", "v7")])
    with pytest.raises(grpc.RpcError) as e:
        pull(crispd, "%s/test/foreign:v1" % registry.host)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert "linux/s390x" in e.value.details() and "linux/arm/v7" in e.value.details()
    assert store_is_empty(crispd)


def test_unknown_tag_is_not_found(crispd, registry):
    with pytest.raises(grpc.RpcError) as e:
        pull(crispd, "%s/library/busybox:nope" % registry.host)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("name", ["", "UPPER/case", "a//b", "x:", "busybox@sha256:abc", "a" * 5000])
def test_bad_references_are_invalid_argument(crispd, name):
    with pytest.raises(grpc.RpcError) as e:
        pull(crispd, name)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_basic_auth(crispd):
    with il.Registry(htpasswd=("alice", "s3cret")) as reg:
        img = il.build_image_from_layers(reg, "private/app", "v1", [[il.file("a", b"a")]])
        ref = "%s/private/app:v1" % reg.host
        with pytest.raises(grpc.RpcError) as e:
            pull(crispd, ref)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            pull(crispd, ref, pb().AuthConfig(username="alice", password="wrong"))
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "wrong" not in e.value.details()
        assert pull(crispd, ref, pb().AuthConfig(username="alice", password="s3cret")) == img.config_digest
        import base64
        encoded = base64.b64encode(b"alice:s3cret").decode()
        remove(crispd, ref)
        assert pull(crispd, ref, pb().AuthConfig(auth=encoded)) == img.config_digest


def test_bearer_token_flow_caches_tokens(crispd, registry):
    with il.TokenAuthProxy(registry, user="bob", password="pw") as proxy:
        one = il.build_image_from_layers(proxy, "tok/one", "v1", [[il.file("1", b"1")], [il.file("2", b"2")]])
        before = proxy.token_requests
        auth = pb().AuthConfig(username="bob", password="pw")
        assert pull(crispd, "%s/tok/one:v1" % proxy.host, auth) == one.config_digest
        # One scope, one token: the manifest, config and both layers reuse it.
        assert proxy.token_requests - before == 1
        with pytest.raises(grpc.RpcError) as e:
            pull(crispd, "%s/tok/one:v1" % proxy.host, pb().AuthConfig(username="bob", password="bad"))
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "invalid username or password" in e.value.details()


def test_digest_mismatch_fails_and_stores_nothing(crispd, registry):
    img = il.build_image_from_layers(registry, "test/corrupt", "v1", [[il.random_file("blob", 300000)]])
    registry.corrupt_blob(img.layer_digests[0])
    with pytest.raises(grpc.RpcError) as e:
        pull(crispd, "%s/test/corrupt:v1" % registry.host)
    assert "digest" in e.value.details() and img.layer_digests[0] in e.value.details()
    assert list_images(crispd) == []
    assert store_is_empty(crispd)


def test_path_traversal_layer_is_refused(crispd, registry):
    il.build_image_from_layers(registry, "test/evil", "v1", [[il.file("ok", b"ok"), il.raw("../../evil", b"x")]])
    with pytest.raises(grpc.RpcError) as e:
        pull(crispd, "%s/test/evil:v1" % registry.host)
    assert "../../evil" in e.value.details()
    assert store_is_empty(crispd)
    assert not os.path.exists(os.path.join(os.path.dirname(crispd.root), "evil"))


def test_registry_killed_mid_pull(crispd_factory):
    with il.Registry() as reg:
        big = il.build_large_image(reg, "test/big", "v1", total_mb=60, layers=3)
        d = crispd_factory(config={"image": {"pull_progress_timeout": 5}})
        ref = "%s/test/big:v1" % reg.host
        future = d.call_future("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=ref)), timeout=120)
        tmp = os.path.join(d.root, "tmp")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not partial_blob_in(tmp):
            time.sleep(0.01)
        reg.kill()
        with pytest.raises(grpc.RpcError) as e:
            future.result()
        assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                                  grpc.StatusCode.INTERNAL)
        assert list_images(d) == []
        assert os.listdir(tmp) == [] and os.listdir(os.path.join(d.root, "images")) == []
        reg.start()
        assert pull(d, ref) == big.config_digest
        assert d.stop() == 0


def partial_blob_in(tmp):
    """A download under way: a temporary blob with some bytes (it may be renamed away meanwhile)."""
    for n in os.listdir(tmp):
        try:
            if n.startswith("blob-") and os.path.getsize(os.path.join(tmp, n)) > 0:
                return True
        except FileNotFoundError:
            pass
    return False


def test_pull_without_progress_fails(crispd_factory):
    with il.Registry() as reg:
        il.build_large_image(reg, "test/stall", "v1", total_mb=60, layers=1)
        d = crispd_factory(config={"image": {"pull_progress_timeout": 2}})
        ref = "%s/test/stall:v1" % reg.host
        future = d.call_future("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=ref)), timeout=120)
        tmp = os.path.join(d.root, "tmp")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not partial_blob_in(tmp):
            time.sleep(0.005)
        os.kill(reg.pid, signal.SIGSTOP)
        try:
            with pytest.raises(grpc.RpcError) as e:
                future.result()
        finally:
            os.kill(reg.pid, signal.SIGCONT)
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "no progress for 2 s" in e.value.details()
        assert list_images(d) == [] and os.listdir(tmp) == []
        assert d.stop() == 0


def test_credentials_from_the_auth_file(crispd_factory):
    import base64
    with il.Registry(htpasswd=("carol", "pw9")) as reg:
        img = il.build_image_from_layers(reg, "private/file", "v1", [[il.file("f", b"f")]])
        d = crispd_factory(start=False)
        auth_file = os.path.join(d.dir, "auth.json")
        with open(auth_file, "w") as f:
            json.dump({"auths": {reg.host: {"auth": base64.b64encode(b"carol:pw9").decode()}}}, f)
        d.write_config(dict(d.base_config, image={"auth_file": auth_file}))
        d.start()
        assert pull(d, "%s/private/file:v1" % reg.host) == img.config_digest
        assert d.stop() == 0


def test_ten_concurrent_pulls_share_one_download(crispd, registry):
    with il.TokenAuthProxy(registry, allow_anonymous=True) as proxy:
        img = il.build_image_from_layers(proxy, "test/shared", "v1",
                                         [[il.random_file("a", 2 << 20)], [il.random_file("b", 2 << 20)]])
        ref = "%s/test/shared:v1" % proxy.host
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            ids = list(pool.map(lambda _: pull(crispd, ref), range(10)))
        assert ids == [img.config_digest] * 10
        blob_gets = [r for r in proxy.request_log if r[0] == "GET" and "/blobs/" in r[1] and r[2] == 200]
        for digest in img.layer_digests:
            assert sum(1 for r in blob_gets if digest in r[1]) == 1


def test_remove_collects_unshared_layers(crispd, registry):
    shared = [il.file("shared", b"shared")]
    a = il.build_image_from_layers(registry, "test/gc-a", "v1", [shared, [il.file("a", b"a")]])
    b = il.build_image_from_layers(registry, "test/gc-b", "v1", [shared, [il.file("b", b"b")]])
    pull(crispd, "%s/test/gc-a:v1" % registry.host)
    pull(crispd, "%s/test/gc-b:v1" % registry.host)
    base, top_a = chain_ids(a.diff_ids)
    _, top_b = chain_ids(b.diff_ids)
    remove(crispd, "%s/test/gc-a:v1" % registry.host)
    assert not os.path.exists(layer_dir(crispd, top_a))
    assert os.path.exists(layer_dir(crispd, base)) and os.path.exists(layer_dir(crispd, top_b))
    assert not status(crispd, a.config_digest).HasField("image")
    remove(crispd, a.config_digest)  # absent: still success
    remove(crispd, b.config_digest)
    assert store_is_empty(crispd)
    fs = crispd.call("ImageFsInfo", pb().ImageFsInfoRequest()).image_filesystems[0]
    assert fs.used_bytes.value == 0 and fs.fs_id.mountpoint.startswith("/")


def test_image_fs_info_counts_layers(crispd, registry, busybox):
    pull(crispd, "%s/library/busybox:1.36" % registry.host)
    fs = crispd.call("ImageFsInfo", pb().ImageFsInfoRequest()).image_filesystems[0]
    assert fs.used_bytes.value > 500000  # busybox itself
    assert fs.inodes_used.value > 10
    assert fs.timestamp > 0


def test_store_survives_restart(crispd, registry, busybox):
    ref = "%s/library/busybox:1.36" % registry.host
    pull(crispd, ref)
    assert crispd.stop() == 0
    crispd.start()
    img = status(crispd, ref).image
    assert img.id == busybox.config_digest and list(img.repo_tags) == [ref]
    # Pulling again fetches nothing new and keeps the same record.
    assert pull(crispd, ref) == busybox.config_digest
    assert len(list_images(crispd)) == 1


def test_zstd_and_uncompressed_layers(crispd, registry):
    img = il.build_image_from_layers(registry, "test/zstd", "v1",
                                     [[il.file("z", b"z" * 10000)], [il.file("p", b"plain")]],
                                     compression=["zstd", "none"])
    assert pull(crispd, "%s/test/zstd:v1" % registry.host) == img.config_digest
    z, p = chain_ids(img.diff_ids)
    with open(os.path.join(layer_dir(crispd, z), "z"), "rb") as f:
        assert f.read() == b"z" * 10000
    with open(os.path.join(layer_dir(crispd, p), "p"), "rb") as f:
        assert f.read() == b"plain"


def wait_for(cond, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_trickling_download_fails_within_the_progress_timeout(crispd_factory, registry):
    """Issue 12 item 6: 2 bytes a second keeps a connection alive, but it is no progress."""
    with il.TokenAuthProxy(registry, allow_anonymous=True) as proxy:
        il.build_image_from_layers(proxy, "test/trickle", "v1", [[il.random_file("r", 200000)]])
        d = crispd_factory(config={"image": {"pull_progress_timeout": 2}})
        proxy.blob_rate = 2
        with pytest.raises(grpc.RpcError) as e:
            pull(d, "%s/test/trickle:v1" % proxy.host, timeout=60)
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "no progress for 2 s" in e.value.details()
        assert wait_for(lambda: proxy.active_blobs == 0)
        assert list_images(d) == [] and store_is_empty(d)
        assert d.stop() == 0


def test_pull_stops_when_its_client_deadline_passes(crispd, registry):
    """Issue 12 item 6: a pull whose caller gave up stops downloading and tries no more."""
    with il.TokenAuthProxy(registry, allow_anonymous=True) as proxy:
        il.build_image_from_layers(proxy, "test/abandoned", "v1", [[il.random_file("r", 200000)]])
        proxy.blob_rate = 2
        with pytest.raises(grpc.RpcError) as e:
            pull(crispd, "%s/test/abandoned:v1" % proxy.host, timeout=3)
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # The progress timeout is 60 s: only the cancellation can end the transfer this soon.
        assert wait_for(lambda: proxy.active_blobs == 0, timeout=20)
        gets = proxy.blob_gets
        time.sleep(3)  # a retry would come within its backoff
        assert proxy.blob_gets == gets and proxy.active_blobs == 0
        assert wait_for(lambda: store_is_empty(crispd))
        assert list_images(crispd) == []


def test_gzip_bomb_layer_is_refused_at_the_size_limit(crispd_factory, registry):
    """Issue 12 item 11: 100 MiB of zeros compress to a few hundred KiB; the limit stops the unpack."""
    img = il.build_image_from_layers(registry, "test/bomb", "v1", [[il.zero_file("zeros", 100 << 20)]])
    assert img.layers[0].size < 1 << 20
    d = crispd_factory(config={"image": {"max_layer_size": 50}})
    with pytest.raises(grpc.RpcError) as e:
        pull(d, "%s/test/bomb:v1" % registry.host)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than the limit of %d bytes" % (50 << 20) in e.value.details()
    assert list_images(d) == [] and store_is_empty(d)
    assert d.stop() == 0


def test_data_after_the_tar_archive_is_refused(crispd, registry):
    """Issue 12 item 11: a layer that goes on after its archive's end is not read to its end."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        data = b"ok"
        ti = tarfile.TarInfo("ok")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    layer = il.Layer(tar_bytes=buf.getvalue() + bytes(8 << 20), compression="zstd")
    il.build_image_from_layers(registry, "test/trailer", "v1", [layer])
    with pytest.raises(grpc.RpcError) as e:
        pull(crispd, "%s/test/trailer:v1" % registry.host)
    assert "after its tar archive's end" in e.value.details()
    assert list_images(crispd) == [] and store_is_empty(crispd)
