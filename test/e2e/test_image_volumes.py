"""Image volumes (CRI Mount.image, Kubernetes' ImageVolume): an image's root filesystem, or a directory
of it, mounted read-only in a container; refused cleanly when the image or the sub path is not there;
the image stays in use (RemoveImage refuses it) until the container is removed, across a crispd
restart; nothing stays mounted after RemoveContainer."""
import os
import subprocess
import time

import grpc
import pytest

import imagelib as il
from conftest import pb
from podlib import pod_config, remove_pod, run_pod


@pytest.fixture(scope="module")
def registry():
    r = il.Registry()
    yield r
    r.cleanup()


@pytest.fixture(scope="module")
def images(registry):
    """The container's own busybox image, a two-layer volume image (the upper layer replaces one file
    and deletes another) and a one-layer one."""
    bb = il.build_busybox_image(registry, "library/busybox", "iv")
    with open(il.BUSYBOX, "rb") as f:
        tool = f.read()
    lower = [il.directory("/data"), il.file("/data/a.txt", "lower\n"), il.file("/data/gone.txt", "gone\n"),
             il.directory("/bin"), il.file("/bin/busybox", tool, 0o755),
             il.directory("/sub"), il.directory("/sub/inner"), il.file("/sub/inner/x.txt", "inner\n"),
             il.file("/afile", "a file\n"),
             il.symlink("/abs", "/sub"),            # absolute: resolves inside the image
             il.symlink("/out", "../../../../../etc")]  # would climb to the host's /etc if followed out
    upper = [il.directory("/data"), il.file("/data/a.txt", "upper\n"), il.whiteout("/data/gone.txt"),
             il.file("/data/b.txt", "two\n")]
    vol = il.build_image_from_layers(registry, "test/vol", "v1", [lower, upper])
    one = il.build_image_from_layers(registry, "test/vol1", "v1", [[il.file("/one.txt", "single\n")]])
    refs = {"busybox": "%s/library/busybox:iv" % registry.host, "vol": "%s/test/vol:v1" % registry.host,
            "one": "%s/test/vol1:v1" % registry.host}
    return refs, {"vol": vol.image_id, "one": one.image_id}


def pull(d, ref):
    return d.call("PullImage", pb().PullImageRequest(image=pb().ImageSpec(image=ref)), timeout=120).image_ref


@pytest.fixture
def pod(crispd, images):
    refs, _ = images
    for r in refs.values():
        pull(crispd, r)
    cfg = pod_config("iv-pod", host_network=True)
    pod_id = run_pod(crispd, cfg)
    yield crispd, pod_id, cfg, refs
    remove_pod(crispd, pod_id)
    assert mounts_of(crispd.state) == []


def mounts_of(text):
    with open("/proc/self/mountinfo") as f:
        return [l for l in f if text in l]


def image_mount(ref, path="/vol", sub="", readonly=True, options=(), host_path=""):
    return pb().Mount(container_path=path, host_path=host_path, readonly=readonly,
                      image=pb().ImageSpec(image=ref), image_sub_path=sub, mount_options=list(options))


def create(d, pod_id, cfg, image, mounts, command=("sleep", "1000"), name="c"):
    config = pb().ContainerConfig(metadata=pb().ContainerMetadata(name=name), image=pb().ImageSpec(image=image),
                                  command=list(command), mounts=mounts)
    req = pb().CreateContainerRequest(pod_sandbox_id=pod_id, config=config, sandbox_config=cfg)
    return d.call("CreateContainer", req, timeout=60).container_id


def start(d, cid):
    d.call("StartContainer", pb().StartContainerRequest(container_id=cid), timeout=60)


def remove(d, cid):
    d.call("RemoveContainer", pb().RemoveContainerRequest(container_id=cid), timeout=60)


def sh(d, cid, script):
    r = d.call("ExecSync", pb().ExecSyncRequest(container_id=cid, cmd=["sh", "-c", script], timeout=10),
               timeout=40)
    return r.exit_code, r.stdout.decode(), r.stderr.decode()


def remove_image(d, ref):
    d.call("RemoveImage", pb().RemoveImageRequest(image=pb().ImageSpec(image=ref)), timeout=60)


def image_present(d, ref):
    return bool(d.call("ImageStatus", pb().ImageStatusRequest(image=pb().ImageSpec(image=ref))).image.id)


def containers_dir(d):
    p = os.path.join(d.state, "containers")
    return sorted(os.listdir(p)) if os.path.isdir(p) else []


def test_image_volume_is_the_image_read_only(pod):
    d, pod_id, cfg, refs = pod
    cid = create(d, pod_id, cfg, refs["busybox"], [image_mount(refs["vol"])])
    start(d, cid)
    # The layers stack as in a root filesystem: the upper one's file wins, its whiteout hides.
    assert sh(d, cid, "cat /vol/data/a.txt /vol/data/b.txt /vol/sub/inner/x.txt") == (0, "upper\ntwo\ninner\n", "")
    assert sh(d, cid, "test -e /vol/data/gone.txt")[0] != 0
    code, _, err = sh(d, cid, "touch /vol/new")
    assert code != 0 and "Read-only file system" in err
    code, _, err = sh(d, cid, "rm /vol/afile")
    assert code != 0 and "Read-only file system" in err
    # Not asked for noexec: programs of the image run (as containerd does).
    assert sh(d, cid, "/vol/bin/busybox echo ran") == (0, "ran\n", "")
    assert sh(d, cid, "grep ' /vol ' /proc/self/mountinfo")[1].split()[5].split(",")[0] == "ro"

    st = d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid)).status
    vol = [m for m in st.mounts if m.container_path == "/vol"]
    assert len(vol) == 1 and vol[0].image.image == refs["vol"] and vol[0].readonly
    assert vol[0].host_path.startswith(os.path.join(d.state, "containers", cid))
    host = mounts_of(cid)
    assert len(host) == 1 and " overlay " in host[0] and " ro," in host[0]

    remove(d, cid)
    assert mounts_of(cid) == [] and cid not in containers_dir(d)


def test_noexec_when_asked(pod):
    d, pod_id, cfg, refs = pod
    cid = create(d, pod_id, cfg, refs["busybox"], [image_mount(refs["vol"], options=["noexec", "nosuid", "nodev"])])
    start(d, cid)
    assert sh(d, cid, "cat /vol/data/a.txt")[1] == "upper\n"
    code, _, err = sh(d, cid, "/vol/bin/busybox echo ran")
    assert code == 126 and "Permission denied" in err
    opts = sh(d, cid, "grep ' /vol ' /proc/self/mountinfo")[1].split()[5].split(",")
    assert {"ro", "noexec", "nosuid", "nodev"} <= set(opts)
    remove(d, cid)
    assert mounts_of(cid) == []


def test_sub_path_and_one_layer_image(pod):
    d, pod_id, cfg, refs = pod
    cid = create(d, pod_id, cfg, refs["busybox"],
                 [image_mount(refs["vol"], "/sub", sub="sub/inner"),
                  image_mount(refs["vol"], "/abs", sub="abs/inner"),  # "/sub" inside the image, not the host's
                  image_mount(refs["one"], "/one")])
    start(d, cid)
    assert sh(d, cid, "ls /sub; cat /abs/x.txt /one/one.txt") == (0, "x.txt\ninner\nsingle\n", "")
    st = d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid)).status
    sub = [m for m in st.mounts if m.container_path == "/sub"][0]
    assert sub.image_sub_path == "sub/inner" and sub.host_path.endswith("/sub/inner")
    assert len(mounts_of(cid)) == 3
    remove(d, cid)
    assert mounts_of(cid) == [] and cid not in containers_dir(d)


@pytest.mark.parametrize("ref,sub,readonly,host_path,code,message", [
    ("vol", "missing", True, "", grpc.StatusCode.NOT_FOUND, 'sub path "missing" does not exist in the image'),
    ("vol", "out", True, "", grpc.StatusCode.NOT_FOUND, 'sub path "out" does not exist in the image'),
    ("vol", "../x", True, "", grpc.StatusCode.INVALID_ARGUMENT, 'has a ".." component'),
    ("vol", "sub/../../x", True, "", grpc.StatusCode.INVALID_ARGUMENT, 'has a ".." component'),
    ("vol", "/sub", True, "", grpc.StatusCode.INVALID_ARGUMENT, "must be a relative path"),
    ("vol", "afile", True, "", grpc.StatusCode.INVALID_ARGUMENT, "is not a directory"),
    ("vol", "x" * 5000, True, "", grpc.StatusCode.INVALID_ARGUMENT, "at most"),
    ("absent", "", True, "", grpc.StatusCode.NOT_FOUND, "not found"),
    ("vol", "", False, "", grpc.StatusCode.INVALID_ARGUMENT, "set readonly"),
    ("vol", "", True, "/tmp", grpc.StatusCode.INVALID_ARGUMENT, "takes no host_path"),
], ids=["missing", "symlink-out", "dotdot", "dotdot-inside", "absolute", "file", "too-long", "absent-image",
        "read-write", "host-path"])
def test_bad_image_volumes_are_refused_with_nothing_left(pod, ref, sub, readonly, host_path, code, message):
    d, pod_id, cfg, refs = pod
    image = refs.get(ref, "%s/test/absent:v1" % refs["vol"].split("/")[0])
    # A good volume first, so that a refusal also has a mount to undo.
    mounts = [image_mount(refs["one"], "/one"), image_mount(image, sub=sub, readonly=readonly, host_path=host_path)]
    with pytest.raises(grpc.RpcError) as e:
        create(d, pod_id, cfg, refs["busybox"], mounts)
    assert e.value.code() == code and message in e.value.details()
    assert len(d.call("ListContainers", pb().ListContainersRequest()).containers) == 0
    assert containers_dir(d) == [] and mounts_of(os.path.join(d.state, "containers")) == []
    # Nothing holds the images either.
    assert image_present(d, refs["one"])


def test_image_in_use_is_kept_until_the_container_goes_and_across_a_restart(pod, images):
    d, pod_id, cfg, refs = pod
    _, ids = images
    cid = create(d, pod_id, cfg, refs["busybox"], [image_mount(refs["vol"], sub="data")])
    start(d, cid)
    for name in (refs["vol"], ids["vol"]):  # by reference and by id
        with pytest.raises(grpc.RpcError) as e:
            remove_image(d, name)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "is in use by container %s" % cid[:12] in e.value.details()
    assert image_present(d, refs["vol"])

    d.proc.kill()
    d.proc.wait()
    time.sleep(1)
    d.start()
    st = d.call("ContainerStatus", pb().ContainerStatusRequest(container_id=cid)).status
    assert st.state == pb().CONTAINER_RUNNING and [m.image.image for m in st.mounts if m.image.image] == [refs["vol"]]
    assert sh(d, cid, "cat /vol/a.txt") == (0, "upper\n", "")
    assert len(mounts_of(cid)) == 1
    with pytest.raises(grpc.RpcError) as e:
        remove_image(d, refs["vol"])
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    d.call("StopContainer", pb().StopContainerRequest(container_id=cid, timeout=0), timeout=60)
    with pytest.raises(grpc.RpcError) as e:  # an exited container still holds it
        remove_image(d, refs["vol"])
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    remove(d, cid)
    assert mounts_of(cid) == [] and cid not in containers_dir(d)
    remove_image(d, refs["vol"])
    assert not image_present(d, refs["vol"])
    # Gone from the store, so a new image volume of it is refused until it is pulled again.
    with pytest.raises(grpc.RpcError) as e:
        create(d, pod_id, cfg, refs["busybox"], [image_mount(refs["vol"])])
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    pull(d, refs["vol"])


def test_created_container_keeps_its_volume_across_a_restart(pod):
    """Mounted at create: a container created, then crispd restarted, then started, still sees it."""
    d, pod_id, cfg, refs = pod
    cid = create(d, pod_id, cfg, refs["busybox"], [image_mount(refs["one"], "/one")])
    d.proc.kill()
    d.proc.wait()
    d.start()
    start(d, cid)
    assert sh(d, cid, "cat /one/one.txt") == (0, "single\n", "")
    remove(d, cid)
    assert mounts_of(cid) == []


def test_volume_lost_while_crispd_was_down_fails_the_start(pod):
    """A volume whose mount went (a crash in the middle of a remove, or an operator) is not bound as an
    empty directory: the start fails."""
    d, pod_id, cfg, refs = pod
    cid = create(d, pod_id, cfg, refs["busybox"], [image_mount(refs["one"], "/one")])
    d.proc.kill()
    d.proc.wait()
    target = os.path.join(d.state, "containers", cid, "image-volumes", "0")
    assert os.path.ismount(target)
    subprocess.run(["umount", target], check=True)
    d.start()
    with pytest.raises(grpc.RpcError) as e:
        start(d, cid)
    assert "image-volumes/0" in e.value.details()
    remove(d, cid)
    assert cid not in containers_dir(d)


def test_a_containers_own_image_is_kept_until_the_container_goes(pod):
    """The rootfs overlay stands on the image's layers as an image volume does: RemoveImage refuses
    (as CRI-O does) rather than deleting them under a container, across a restart too."""
    d, pod_id, cfg, refs = pod
    cid = create(d, pod_id, cfg, refs["one"], [], command=("/one.txt",), name="own")
    with pytest.raises(grpc.RpcError) as e:
        remove_image(d, refs["one"])
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "is in use by container %s (own)" % cid[:12] in e.value.details()
    assert "image volume" not in e.value.details()
    d.proc.kill()
    d.proc.wait()
    d.start()
    with pytest.raises(grpc.RpcError) as e:
        remove_image(d, refs["one"])
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    remove(d, cid)
    remove_image(d, refs["one"])
    assert not image_present(d, refs["one"])
    pull(d, refs["one"])
