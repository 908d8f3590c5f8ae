"""Configuration: defaults, file, drop-ins, flags, and precise errors for bad input."""
import json
import os

import pytest

from conftest import CRISPD, run_crispd


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def effective(*args):
    r = run_crispd(*args, "--print-config")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_defaults_without_any_file(tmpdir_clean):
    cfg = effective("--config", write(os.path.join(tmpdir_clean, "empty.json"), "{}"))
    assert cfg["listen"] == "/run/crisp/crisp.sock"
    assert cfg["root"] == "/var/lib/crisp"
    assert cfg["state"] == "/run/crisp"
    assert cfg["log_level"] == "info"
    assert cfg["log_format"] == "text"
    assert cfg["cgroup_driver"] == "cgroupfs"
    assert cfg["cni"] == {"conf_dir": "/etc/cni/net.d", "bin_dirs": ["/opt/cni/bin", "/usr/lib/cni"]}
    assert cfg["streaming"] == {"address": "127.0.0.1", "port": 0, "tls_cert": "", "tls_key": "", "token_ttl": 60,
                                "idle_timeout": 14400}
    assert cfg["registries"] == {}


def test_missing_default_file_is_fine():
    if os.path.exists("/etc/crisp/crisp.json"):
        pytest.skip("this machine has /etc/crisp/crisp.json")
    assert effective()["listen"] == "/run/crisp/crisp.sock"


def test_missing_named_file_is_an_error(tmpdir_clean):
    missing = os.path.join(tmpdir_clean, "nope.json")
    r = run_crispd("--config", missing)
    assert r.returncode != 0
    assert missing in r.stderr and "No such file" in r.stderr


def test_file_with_comments_dropins_and_flags(tmpdir_clean):
    main = write(os.path.join(tmpdir_clean, "crisp.json"), """
        // crisp's main file
        {
          "log_level": "debug",          /* overridden by a drop-in */
          "cgroup_driver": "systemd",
          "cni": {"conf_dir": "/etc/cni/other"},
          "registries": {"registry.k8s.io": {"mirrors": ["http://127.0.0.1:5000"]}}
        }""")
    os.mkdir(main + ".d")
    write(os.path.join(main + ".d", "20-late.json"), '{"log_level": "error", "streaming": {"port": 10010}}')
    write(os.path.join(main + ".d", "10-early.json"),
          '{"log_level": "warn", "registries": {"registry.k8s.io": {"insecure": true}}}')
    write(os.path.join(main + ".d", "ignored.txt"), "not json at all")
    cfg = effective("--config", main, "--root", "/srv/crisp", "--log-format", "json")
    assert cfg["log_level"] == "error"  # 20-late wins over 10-early, which wins over the main file
    assert cfg["cgroup_driver"] == "systemd"
    assert cfg["cni"]["conf_dir"] == "/etc/cni/other"
    assert cfg["cni"]["bin_dirs"] == ["/opt/cni/bin", "/usr/lib/cni"]
    assert cfg["streaming"] == {"address": "127.0.0.1", "port": 10010, "tls_cert": "", "tls_key": "", "token_ttl": 60,
                                "idle_timeout": 14400}
    assert cfg["registries"] == {"registry.k8s.io": {"mirrors": ["http://127.0.0.1:5000"], "insecure": True}}
    assert cfg["root"] == "/srv/crisp"
    assert cfg["log_format"] == "json"


def test_flag_beats_files(tmpdir_clean):
    main = write(os.path.join(tmpdir_clean, "crisp.json"), '{"log_level": "debug", "listen": "/a/b.sock"}')
    cfg = effective("--config", main, "--log-level", "warn", "--listen", "unix:///x/y.sock", "--state", "/x")
    assert cfg["log_level"] == "warn"
    assert cfg["listen"] == "/x/y.sock"
    assert cfg["state"] == "/x"


BAD = [
    ('{"log_level": "info",}', None, "invalid JSON"),
    ('[1, 2]', None, "expected a JSON object at the top"),
    ('{"colour": "blue"}', "colour", "unknown key"),
    ('{"cni": {"confdir": "/x"}}', "cni.confdir", "unknown key"),
    ('{"log_level": 3}', "log_level", "expected a string, got a number"),
    ('{"log_level": "loud"}', "log_level", "expected one of error, warn, info, debug"),
    ('{"log_format": "xml"}', "log_format", "expected one of text, json"),
    ('{"cgroup_driver": "cgroupv3"}', "cgroup_driver", "expected one of cgroupfs, systemd"),
    ('{"root": "relative/dir"}', "root", "expected an absolute path"),
    ('{"state": "/run/../etc"}', "state", "expected an absolute path"),
    ('{"listen": "tcp://1.2.3.4:5"}', "listen", "absolute unix socket path"),
    ('{"cni": {"bin_dirs": "/opt/cni/bin"}}', "cni.bin_dirs", "expected a list of absolute paths, got a string"),
    ('{"cni": {"bin_dirs": ["bin"]}}', "cni.bin_dirs", "expected a list of absolute paths"),
    ('{"cni": "x"}', "cni", "expected an object"),
    ('{"streaming": {"port": 70000}}', "streaming.port", "an integer from 0 to 65535"),
    ('{"streaming": {"port": "80"}}', "streaming.port", "expected an integer, got a string"),
    ('{"streaming": {"address": "localhost"}}', "streaming.address", "an IPv4 or IPv6 address"),
    ('{"registries": {"docker.io": {"mirrors": ["ftp://m"]}}}', "registries.docker.io.mirrors",
     "http:// or https:// URLs"),
    ('{"registries": {"docker.io": {"insecure": "yes"}}}', "registries.docker.io.insecure",
     "expected a boolean"),
    ('{"registries": {"docker.io": {"mirror": []}}}', "registries.docker.io.mirror", "unknown key"),
    ('{"registries": {"bad host/x": {}}}', "registries.bad host/x", "registry host name"),
    ('{"shutdown_timeout": -1}', "shutdown_timeout", "an integer from 0 to 3600"),
]


@pytest.mark.parametrize("text,key,expected", BAD)
def test_bad_config_exits_with_one_precise_message(tmpdir_clean, text, key, expected):
    path = write(os.path.join(tmpdir_clean, "crisp.json"), text)
    r = run_crispd("--config", path)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert path in lines[0]
    if key:
        assert '"%s"' % key in lines[0]
    assert expected in lines[0]
    assert r.stdout == ""


def test_bad_dropin_is_named(tmpdir_clean):
    main = write(os.path.join(tmpdir_clean, "crisp.json"), "{}")
    os.mkdir(main + ".d")
    bad = write(os.path.join(main + ".d", "50-bad.json"), '{"log_level": "shout"}')
    r = run_crispd("--config", main)
    assert r.returncode != 0 and bad in r.stderr and "log_level" in r.stderr


def test_bad_flag_value_names_the_flag():
    r = run_crispd("--log-level", "chatty", "--print-config")
    assert r.returncode != 0
    assert "--log-level" in r.stderr and "expected one of error, warn, info, debug" in r.stderr


def test_oversized_config_refused(tmpdir_clean):
    path = write(os.path.join(tmpdir_clean, "crisp.json"), '{"listen_group": "%s"}' % ("x" * (2 << 20)))
    r = run_crispd("--config", path)
    assert r.returncode != 0 and "larger than" in r.stderr


def test_help_and_version():
    r = run_crispd("--help")
    assert r.returncode == 0
    for flag in ("--config", "--listen", "--root", "--state", "--log-level", "--log-format", "--print-config",
                 "--version"):
        assert flag in r.stdout
    r = run_crispd("--version")
    assert r.returncode == 0 and r.stdout.startswith("crispd ")
    r = run_crispd("--no-such-flag")
    assert r.returncode == 2 and "Usage" in r.stderr
    assert os.access(CRISPD, os.X_OK)


def test_streaming_tls_needs_both_files(tmpdir_clean):
    path = write(os.path.join(tmpdir_clean, "crisp.json"), '{"streaming": {"tls_cert": "/nonexistent/cert.pem"}}')
    r = run_crispd("--config", path, "--listen", os.path.join(tmpdir_clean, "s.sock"),
                   "--state", os.path.join(tmpdir_clean, "state"), "--root", os.path.join(tmpdir_clean, "root"))
    assert r.returncode != 0 and "streaming.tls_cert and streaming.tls_key must be set together" in r.stderr


def test_the_shipped_config_shows_the_defaults(tmpdir_clean):
    shipped = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "crisp.json")
    assert effective("--config", shipped) == effective("--config", write(os.path.join(tmpdir_clean, "e.json"), "{}"))
