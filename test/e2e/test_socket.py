"""The listening socket: mode, group, directory, stale files and a second crispd."""
import grp
import os
import socket
import stat

from conftest import Crispd, pb


def test_socket_and_directory_modes(crispd):
    st = os.stat(crispd.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    # The socket lives in a directory crisp made (the temp dir is the test's): check the state dir.
    assert stat.S_IMODE(os.stat(crispd.state).st_mode) == 0o700


def test_socket_group_opens_directory_to_group(crispd_factory):
    group = grp.getgrall()[-1] if grp.getgrall()[-1].gr_gid != 0 else grp.getgrnam("daemon")
    d = crispd_factory(start=False, config={"listen_group": group.gr_name})
    d.sock = os.path.join(d.dir, "run", "crisp.sock")  # a directory crispd must create
    d.start()
    st = os.stat(d.sock)
    assert st.st_gid == group.gr_gid and stat.S_IMODE(st.st_mode) == 0o660
    dst = os.stat(os.path.dirname(d.sock))
    assert dst.st_gid == group.gr_gid and stat.S_IMODE(dst.st_mode) == 0o710
    assert d.stop() == 0


def test_unknown_group_is_refused(crispd_factory):
    d = crispd_factory(start=False, config={"listen_group": "no-such-group-crisp"})
    d.start(wait=False)
    assert d.proc.wait(20) != 0
    assert "no such group" in d.log()
    assert not os.path.exists(d.sock)


def test_stale_socket_is_replaced(crispd_factory):
    d = crispd_factory(start=False)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(d.sock)  # bound but never listening, as after a crash
    stale.close()
    d.start()
    assert d.call("Version", pb().VersionRequest()).runtime_name == "crisp"
    assert d.stop() == 0
    assert not os.path.exists(d.sock)


def test_refuses_to_start_while_another_answers(crispd, crispd_factory):
    second = crispd_factory(start=False)
    second.sock = crispd.sock
    second.start(wait=False)
    assert second.proc.wait(20) != 0
    assert "another process is already serving on " + crispd.sock in second.log()
    # The first one is untouched and still answers.
    assert crispd.call("Version", pb().VersionRequest()).runtime_name == "crisp"


def test_non_socket_file_in_the_way_is_refused(crispd_factory):
    d = crispd_factory(start=False)
    with open(d.sock, "w") as f:
        f.write("precious")
    d.start(wait=False)
    assert d.proc.wait(20) != 0
    assert "exists and is not a socket" in d.log()
    with open(d.sock) as f:
        assert f.read() == "precious"
