#!/usr/bin/python3
"""Local stand-ins for the images critest v1.32.0 pulls, built from Debian's busybox-static.

critest (cri-tools' CRI validation suite, see /work/shared/conformance/README.md) pulls its test
images from registry.k8s.io and gcr.io. Offline, crisp can mirror both hosts to a local Debian
docker-registry that holds these stand-ins under the same paths:

    registry.k8s.io/e2e-test-images/{busybox:1.29-2, nginx:1.14-2, httpd:2.4.39-4, nonewprivs:1.3}
    gcr.io/k8s-staging-cri-tools/{test-image-latest, test-image-tag:test|all, test-image-digest,
        test-image-1|2|3, test-image-tags:1|2|3, test-image-user-uid, test-image-user-username,
        test-image-user-uid-group, test-image-user-username-group, test-image-predefined-group,
        hostnet-nginx-<arch>}

Each is one layer holding Debian's busybox-static with every applet hard-linked to it (as in the
busybox images), made with the e2e image tooling (test/e2e/imagelib.py: busybox_members(), file(),
directory(), build_image_from_layers()), and shaped after what critest's specs (pkg/validate/)
check of it; the comments on IMAGES below say what each holds and why.

One spec needs more than busybox-static: "runtime should support MaskedPaths" masks /bin/ls and
expects `sh -c ls` to fail with "/bin/sh: ls: Permission denied". busybox-static's sh is built
with the "standalone shell" (applets run in-process, /bin/ls is never executed), so with it that
spec fails because of the image. --busybox-deb DEB puts the busybox of Debian's (dynamically
linked) busybox package into the default busybox image instead, with the shared libraries ldd
names for it copied from this machine; that sh executes /bin/ls as upstream's does. The .deb is
fetched without installing anything: `apt-get download busybox`.

Usage (as root, from anywhere):

    # a registry already listening on 127.0.0.1:5000:
    /usr/bin/python3 test/conformance/critest_images.py 127.0.0.1:5000
    # or start one (detached, storage, config, log and pid file in DIR), then build:
    /usr/bin/python3 test/conformance/critest_images.py --serve /var/tmp/crisp-critest/registry 127.0.0.1:5000
    # with a default busybox image whose sh passes MaskedPaths (see above):
    (cd /var/tmp/crisp-critest && apt-get download busybox)
    /usr/bin/python3 test/conformance/critest_images.py --busybox-deb /var/tmp/crisp-critest/busybox_*.deb 127.0.0.1:5000
    # stop the registry --serve started (SIGTERM to the pid in DIR/registry.pid):
    /usr/bin/python3 test/conformance/critest_images.py --stop /var/tmp/crisp-critest/registry

and give crisp the mirrors:

    "registries": {"registry.k8s.io": {"mirrors": ["http://127.0.0.1:5000"]},
                   "gcr.io": {"mirrors": ["http://127.0.0.1:5000"]}}

--only NAME (repeatable) builds only the images whose path contains NAME; --list prints the paths.
Rebuilding is harmless: tags are overwritten (with the same image ids when nothing changed).
The one spec that cannot pass with these images is "public image with digest": it wants the
upstream manifest digest of test-image-digest (run critest with --ginkgo.skip='with digest').
"""
import argparse
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import imagelib  # noqa: E402
from imagelib import (BUSYBOX, RegistryClient, build_image_from_layers, busybox_members,  # noqa: E402
                      directory, file, hardlink, http_get, symlink)

E2E = "e2e-test-images/"
CRI = "k8s-staging-cri-tools/"
ARCH = imagelib.host_platform()[1]

# /etc/passwd and /etc/group of the busybox images critest's come from (docker.io/library/busybox).
PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
"""

# Commands critest runs that busybox-static lacks, as busybox-sh scripts.
PGREP = r"""#!/bin/sh
# pgrep stand-in (Debian's busybox-static has none): prints the pids of the processes whose name
# (/proc/PID/comm) matches the extended regular expression PATTERN; exit status 1 if none does.
[ $# -eq 1 ] || { echo "usage: pgrep PATTERN" >&2; exit 2; }
rc=1
for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = "$$" ] && continue
    read -r name 2>/dev/null <"$d/comm" || continue
    if printf '%s\n' "$name" | grep -qE -- "$1"; then
        echo "$p"
        rc=0
    fi
done
exit $rc
"""

IPCS = r"""#!/bin/sh
# ipcs stand-in (Debian's busybox-static has none): the System V IPC objects of the caller's IPC
# namespace, read from /proc/sysvipc, in util-linux's layout (owners as numbers).
# -m shared memory, -q message queues, -s semaphores, -a (default) all three.
m= q= s=
for a in "$@"; do
    case $a in
    -m) m=1 ;; -q) q=1 ;; -s) s=1 ;; -a) m=1 q=1 s=1 ;;
    *) echo "usage: ipcs [-m|-q|-s|-a]" >&2; exit 1 ;;
    esac
done
[ -n "$m$q$s" ] || { m=1 q=1 s=1; }
hexkey() { k=$1; [ "$k" -lt 0 ] && k=$((k + 4294967296)); printf '0x%08x' "$k"; }
if [ -n "$q" ]; then
    printf '\n------ Message Queues --------\nkey        msqid      owner      perms      used-bytes   messages    \n'
    tail -n +2 /proc/sysvipc/msg 2>/dev/null | while read -r key id perms cbytes qnum lspid lrpid uid rest; do
        printf '%s %-10s %-10s %-10s %-12s %-12s\n' "$(hexkey "$key")" "$id" "$uid" "$perms" "$cbytes" "$qnum"
    done
fi
if [ -n "$m" ]; then
    printf '\n------ Shared Memory Segments --------\nkey        shmid      owner      perms      bytes      nattch     status      \n'
    tail -n +2 /proc/sysvipc/shm 2>/dev/null | while read -r key id perms size cpid lpid nattch uid rest; do
        printf '%s %-10s %-10s %-10s %-10s %-10s\n' "$(hexkey "$key")" "$id" "$uid" "$perms" "$size" "$nattch"
    done
fi
if [ -n "$s" ]; then
    printf '\n------ Semaphore Arrays --------\nkey        semid      owner      perms      nsems     \n'
    tail -n +2 /proc/sysvipc/sem 2>/dev/null | while read -r key id perms nsems uid rest; do
        printf '%s %-10s %-10s %-10s %-10s\n' "$(hexkey "$key")" "$id" "$uid" "$perms" "$nsems"
    done
fi
echo
"""

# nginx: busybox httpd behind a script named nginx (so the process is "nginx" to pidof), that keeps
# running as the master: its command line says "nginx: master process ..." like real nginx's (the
# PID-namespace specs look for that in /proc/1/cmdline) and its pid is in /var/run/nginx.pid.
NGINX = r"""#!/bin/sh
# nginx stand-in for critest: busybox httpd serving /usr/share/nginx/html on port ${NGINX_PORT:-80}.
# The first run re-executes this script with "nginx: master process nginx ARGS" as its argument, so
# that /proc/PID/cmdline reads like nginx's master; the command name stays "nginx" (pidof nginx),
# the pid goes to /var/run/nginx.pid. SIGTERM, SIGINT and SIGQUIT stop it (and httpd).
case $1 in
"nginx: master process"*) ;;
*) exec "$0" "nginx: master process nginx $*" ;;
esac
echo $$ >/var/run/nginx.pid
httpd -f -p "${NGINX_PORT:-80}" -h /usr/share/nginx/html &
trap 'kill $! 2>/dev/null; rm -f /var/run/nginx.pid; exit 0' TERM INT QUIT
wait
"""
NGINX_INDEX = """<!DOCTYPE html>
<html>
<head><title>Welcome to nginx!</title></head>
<body><h1>Welcome to nginx!</h1><p>(busybox httpd standing in for nginx, for critest)</p></body>
</html>
"""

HTTPD = r"""#!/bin/sh
# httpd-foreground stand-in for critest: busybox httpd serving /usr/local/apache2/htdocs on port 80.
# It says "httpd" in its log at start (the Multiple Containers spec looks for that) and stops on
# SIGTERM, SIGINT or SIGWINCH (Apache's graceful stop).
echo "httpd: busybox httpd serving /usr/local/apache2/htdocs on port 80" >&2
httpd -f -p 80 -h /usr/local/apache2/htdocs &
trap 'kill $! 2>/dev/null; exit 0' TERM INT WINCH
wait
"""
HTTPD_INDEX = "<html><body><h1>It works!</h1></body></html>\n"

# nonewprivs: a setuid-root copy of busybox whose "id" keeps its privileges by /etc/busybox.conf
# (busybox drops set-uid privileges for applets it is not told to keep). The entrypoint prints the
# effective uid that copy runs with: 0 normally, the caller's when no_new_privs is set (the set-uid
# bit is then ignored and busybox, failing to take uid 0, exits; the shell's own euid is printed).
NNP_SCRIPT = ('uid=$(/usr/local/nnp/id -u 2>/dev/null) || '
              'while read -r k r e rest; do [ "$k" = Uid: ] && uid=$e; done </proc/self/status; '
              'echo "Effective uid: $uid"')
BUSYBOX_CONF = "[SUID]\nid = ssx 0.0\n"


def _applets(busybox_bytes):
    """The applet names of a busybox binary (busybox --list), run from a temporary copy."""
    fd, path = tempfile.mkstemp(prefix="crisp-critest-busybox-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(busybox_bytes)
        os.chmod(path, 0o755)
        out = subprocess.run(["busybox", "--list"], executable=path, capture_output=True, text=True, check=True,
                             timeout=30).stdout
        libs = []
        r = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=30)
        if r.returncode == 0:  # dynamically linked: the libraries it loads, as the loader finds them
            for line in r.stdout.splitlines():
                m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
                if m:
                    libs.append(m.group(1))
    finally:
        os.unlink(path)
    return [a for a in out.split() if a != "busybox" and "/" not in a], libs


def busybox_tree(busybox_bytes=None):
    """A busybox rootfs like the busybox images critest's come from: imagelib's busybox_members()
    with every applet of the binary hard-linked to /bin/busybox (not symlinked: MaskedPaths masks
    /bin/ls, and a mount over a symlink would mask /bin/busybox itself), busybox's /etc/passwd and
    /etc/group (root..nobody), /var/run, /usr/{bin,sbin,local/bin}, and pgrep and ipcs scripts.
    busybox_bytes replaces Debian's busybox-static; a dynamically linked one brings the shared
    libraries ldd names for it, from this machine."""
    libs = []
    members = []
    for m in busybox_members():
        if m.type == tarfile.SYMTYPE and m.name.startswith("bin/") and m.linkname == "busybox":
            continue  # imagelib's applet symlinks: hard links below instead
        if m.name == "bin/busybox" and busybox_bytes is not None:
            m = file("/bin/busybox", busybox_bytes, 0o755)
        members.append(m)
    if busybox_bytes is None:
        with open(BUSYBOX, "rb") as f:
            busybox_bytes = f.read()
    applets, libs = _applets(busybox_bytes)
    members += [hardlink("/bin/" + a, "/bin/busybox") for a in applets]
    dirs = set()
    for lib in libs:
        parts = lib.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "/" + "/".join(parts[:i])
            if d not in dirs:
                dirs.add(d)
                members.append(directory(d))
        with open(os.path.realpath(lib), "rb") as f:
            members.append(file(lib, f.read(), 0o755))
    members += [
        file("/etc/passwd", PASSWD), file("/etc/group", GROUP),
        directory("/var"), directory("/var/run"), directory("/var/www"), directory("/usr"),
        directory("/usr/bin"), directory("/usr/sbin"), directory("/usr/local"), directory("/usr/local/bin"),
        file("/bin/pgrep", PGREP, 0o755), file("/bin/ipcs", IPCS, 0o755),
    ]
    return members


def _merge(members):
    """Members with later ones replacing earlier ones of the same name (as a later file would)."""
    out = {}
    for m in members:
        out.pop(m.name, None)
        out[m.name] = m
    return list(out.values())


def with_users(passwd_extra="", group_extra=""):
    return [file("/etc/passwd", PASSWD + passwd_extra), file("/etc/group", GROUP + group_extra)]


def nginx_members():
    return [directory("/usr/share"), directory("/usr/share/nginx"), directory("/usr/share/nginx/html"),
            file("/usr/share/nginx/html/index.html", NGINX_INDEX), file("/usr/sbin/nginx", NGINX, 0o755)]


def _bb(user=None, cmd=("sh",), entrypoint=None, env=None, extra=(), custom_busybox=False):
    """A builder of a one-layer busybox image (imagelib.build_image_from_layers: tar members written
    as given, so set-uid bits and hard links survive; fixed timestamps, so the same content gives
    the same image id). custom_busybox: use --busybox-deb's busybox if one was given."""
    def build(registry, repo, tag, busybox_bytes=None):
        config = {"cmd": list(cmd) if cmd else None, "entrypoint": list(entrypoint) if entrypoint else None}
        if user is not None:
            config["user"] = user
        if env:
            config["env"] = [imagelib.DEFAULT_PATH_ENV] + list(env)
        tree = busybox_tree(busybox_bytes if custom_busybox else None)
        return build_image_from_layers(registry, repo, tag, [_merge(tree + list(extra))], config=config)
    return build


def _busybox_from_deb(path):
    """/bin/busybox out of a Debian busybox .deb (apt-get download busybox), without installing it."""
    r = subprocess.run(["dpkg-deb", "--fsys-tarfile", path], capture_output=True, check=True, timeout=60)
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as t:
        for name in ("./bin/busybox", "bin/busybox", "./usr/bin/busybox", "usr/bin/busybox"):
            try:
                return t.extractfile(name).read()
            except KeyError:
                continue
    raise RuntimeError("%s has no bin/busybox" % path)


def _nonewprivs(registry, repo, tag, busybox_bytes=None):
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    extra = [directory("/usr/local/nnp"), file("/usr/local/nnp/busybox", bb, 0o4755),
             symlink("/usr/local/nnp/id", "busybox"), file("/etc/busybox.conf", BUSYBOX_CONF, 0o644)]
    return build_image_from_layers(registry, repo, tag, [_merge(busybox_tree() + extra)],
                                   config={"entrypoint": ["/bin/sh", "-c", NNP_SCRIPT], "cmd": None})


IMAGES = [
    # The default container of most specs: sh and every applet (echo, sleep, top, cat, ls, id, mount,
    # dd, pidof, brctl, netstat, ping, chmod, hostname...), pgrep and ipcs scripts, root..nobody in
    # /etc/passwd (RunAsUserName uses nobody). With --busybox-deb, that package's busybox (built
    # without the "standalone shell", so sh runs ls from /bin/ls like upstream's: MaskedPaths).
    (E2E + "busybox", "1.29-2", _bb(custom_busybox=True), "default test container"),
    # HTTP 200 on port 80 at /; the process is "nginx" with "nginx: master process" in its command
    # line and its pid in /var/run/nginx.pid (PID/IPC namespace, port mapping, port-forward specs).
    (E2E + "nginx", "1.14-2", _bb(cmd=("/usr/sbin/nginx", "-g", "daemon off;"), extra=nginx_members()),
     "nginx stand-in on port 80"),
    # HTTP 200 on port 80, "httpd" in its log, echo (Multiple Containers).
    (E2E + "httpd", "2.4.39-4", _bb(cmd=("/usr/local/bin/httpd-foreground",), extra=[
        directory("/usr/local/apache2"), directory("/usr/local/apache2/htdocs"),
        file("/usr/local/apache2/htdocs/index.html", HTTPD_INDEX),
        file("/usr/local/bin/httpd-foreground", HTTPD, 0o755)]),
     "httpd stand-in on port 80"),
    # Prints "Effective uid: N" of a set-uid-root program (NoNewPrivs specs run it as uid 1000).
    (E2E + "nonewprivs", "1.3", _nonewprivs, "set-uid effective uid printer"),
    # Pull specs: distinct images (each with a file named after it, as upstream's ADD $TEST).
    (CRI + "test-image-latest", "latest", _bb(extra=[file("/test-image-latest")]), "pull without tag"),
    (CRI + "test-image-tag", "test", _bb(extra=[file("/test")]), "pull with tag"),
    (CRI + "test-image-tag", "all", _bb(extra=[file("/all")]), "status by every reference"),
    (CRI + "test-image-digest", "latest", _bb(extra=[file("/test-image-digest")]),
     "only by name: the spec's digest is upstream's"),
    (CRI + "test-image-1", "latest", _bb(extra=[file("/test-image-1")]), "three different images"),
    (CRI + "test-image-2", "latest", _bb(extra=[file("/test-image-2")]), "three different images"),
    (CRI + "test-image-3", "latest", _bb(extra=[file("/test-image-3")]), "three different images"),
    # One image under tags 1, 2 and 3 (the manifest of :1 is pushed again as :2 and :3).
    (CRI + "test-image-tags", "1", _bb(extra=[file("/same-image")]), "one image, three tags"),
    (CRI + "test-image-tags", "2", "same:1", "one image, three tags"),
    (CRI + "test-image-tags", "3", "same:1", "one image, three tags"),
    # Image status Uid/Username (users as upstream's build: 1002, www-data, 1003:1004, www-data:1004).
    (CRI + "test-image-user-uid", "latest", _bb(user="1002"), "USER 1002"),
    (CRI + "test-image-user-username", "latest", _bb(user="www-data"), "USER www-data"),
    (CRI + "test-image-user-uid-group", "latest", _bb(user="1003:1004"), "USER 1003:1004"),
    (CRI + "test-image-user-username-group", "latest", _bb(user="www-data:1004"), "USER www-data:1004"),
    # USER 1000 = default-user, primary group 1000, also in group-defined-in-image (50000).
    (CRI + "test-image-predefined-group", "latest", _bb(user="1000", extra=with_users(
        "default-user:x:1000:1000::/home/default-user:/bin/sh\n",
        "default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n") + [
        directory("/home/default-user", 0o755, 1000, 1000)]), "user 1000 in group 50000"),
    # The nginx stand-in on host port 12003 (host-network port-forward spec).
    (CRI + "hostnet-nginx-" + ARCH, "latest", _bb(cmd=("/usr/sbin/nginx", "-g", "daemon off;"),
                                                  env=["NGINX_PORT=12003"], extra=nginx_members()),
     "nginx stand-in on port 12003"),
]


# ---------------------------------------------------------------------------------------------
# A detached docker-registry (--serve / --stop)
# ---------------------------------------------------------------------------------------------

def serve(dirpath, host):
    """Starts /usr/bin/docker-registry on host ("127.0.0.1:5000") with its storage, config, log and pid
    file in dirpath, in its own session (it outlives this script); returns its pid."""
    os.makedirs(os.path.join(dirpath, "storage"), exist_ok=True)
    config = os.path.join(dirpath, "config.yml")
    with open(config, "w") as f:
        f.write("\n".join([
            "version: 0.1",
            "log:", "  level: warn", "  formatter: text", "  accesslog:", "    disabled: true",
            "storage:", "  filesystem:", "    rootdirectory: %s" % os.path.join(dirpath, "storage"),
            "  delete:", "    enabled: true", "  maintenance:", "    uploadpurging:", "      enabled: false",
            "http:", "  addr: %s" % host, "  secret: crisp-critest-registry-secret",
        ]) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    with open(os.path.join(dirpath, "registry.log"), "ab") as log:
        proc = subprocess.Popen([imagelib.DOCKER_REGISTRY, "serve", config], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, env=env, start_new_session=True)
    with open(os.path.join(dirpath, "registry.pid"), "w") as f:
        f.write("%d\n" % proc.pid)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("docker-registry exited (%d); see %s/registry.log" % (proc.returncode, dirpath))
        try:
            if http_get("http://%s/v2/" % host, timeout=1).status == 200:
                return proc.pid
        except OSError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("docker-registry did not answer on %s in 20s" % host)


def stop(dirpath):
    """SIGTERM to the docker-registry whose pid --serve wrote in dirpath, then waits (SIGKILL after 10s)."""
    pidfile = os.path.join(dirpath, "registry.pid")
    try:
        with open(pidfile) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        print("no registry pid in %s" % pidfile)
        return
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            ours = f.read().split(b"\0")[0] == imagelib.DOCKER_REGISTRY.encode()
    except OSError:
        ours = False
    if ours:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z":
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        print("stopped docker-registry %d" % pid)
    else:
        print("pid %d is not a docker-registry (already stopped)" % pid)
    os.unlink(pidfile)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("registry", nargs="?", help="host:port of the registry to push to, e.g. 127.0.0.1:5000")
    ap.add_argument("--serve", metavar="DIR", help="first start a docker-registry on REGISTRY with its files in DIR")
    ap.add_argument("--stop", metavar="DIR", help="stop the registry --serve DIR started, and exit")
    ap.add_argument("--busybox-deb", metavar="DEB", help="Debian's busybox .deb (apt-get download busybox): its "
                    "busybox, with the shared libraries it needs, in the default busybox image")
    ap.add_argument("--only", action="append", default=[], metavar="NAME", help="build images whose path has NAME")
    ap.add_argument("--list", action="store_true", help="print the images and exit")
    args = ap.parse_args()
    if args.stop:
        stop(os.path.abspath(args.stop))
        return 0
    if args.list:
        for repo, tag, _, what in IMAGES:
            print("%s:%s\t%s" % (repo, tag, what))
        return 0
    if not args.registry:
        ap.error("the registry host:port is needed")
    if args.serve:
        pid = serve(os.path.abspath(args.serve), args.registry)
        print("docker-registry pid %d on %s (storage in %s; stop: %s --stop %s)"
              % (pid, args.registry, args.serve, sys.argv[0], args.serve), flush=True)
    busybox_bytes = _busybox_from_deb(args.busybox_deb) if args.busybox_deb else None
    client = RegistryClient(args.registry, False)
    for repo, tag, how, what in IMAGES:
        if args.only and not any(n in repo + ":" + tag for n in args.only):
            continue
        t0 = time.monotonic()
        if isinstance(how, str):  # "same:TAG": the manifest of repo:TAG under this tag too
            body, media_type, _ = client.fetch_manifest(repo, how.split(":", 1)[1])
            client.push_manifest(repo, tag, body, media_type)
            image_id = json.loads(body)["config"]["digest"]
        else:
            image_id = how(args.registry, repo, tag, busybox_bytes).config_digest
        print("%-58s id %s  %s (%.1fs)" % ("%s:%s" % (repo, tag), image_id[7:19], what, time.monotonic() - t0),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
