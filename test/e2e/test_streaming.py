"""Server streaming through the same loop: GetContainerEvents."""
import queue
import signal
import threading

import grpc

from conftest import pb


def reader(stream, out):
    try:
        for ev in stream:
            out.put(ev)
    except grpc.RpcError as e:
        out.put(e)


def publish(d, container_id):
    d.call("Version", pb().VersionRequest(), metadata=[("crisp-test-event", container_id)])


def open_stream(d):
    stream = d.stream("GetContainerEvents", pb().GetEventsRequest())
    out = queue.Queue()
    threading.Thread(target=reader, args=(stream, out), daemon=True).start()
    return stream, out


def next_event(d, out, container_id):
    """Publishes until the stream (subscribed asynchronously) delivers container_id."""
    for _ in range(100):
        publish(d, container_id)
        try:
            ev = out.get(timeout=0.2)
        except queue.Empty:
            continue
        assert not isinstance(ev, Exception), ev
        return ev
    raise AssertionError("no event arrived")


def test_events_reach_every_subscriber(crispd):
    s1, q1 = open_stream(crispd)
    s2, q2 = open_stream(crispd)
    ev = next_event(crispd, q1, "c-first")
    assert ev.container_id == "c-first"
    assert ev.container_event_type == pb().CONTAINER_CREATED_EVENT
    assert ev.created_at > 0
    # Drain both, then one more event is seen by both streams, in order.
    publish(crispd, "c-both")
    seen = []
    while not seen or seen[-1].container_id != "c-both":
        seen.append(q2.get(timeout=10))
    while True:
        ev = q1.get(timeout=10)
        if ev.container_id == "c-both":
            break
    s1.cancel()
    s2.cancel()


def test_cancelled_stream_frees_its_worker(crispd):
    streams = [open_stream(crispd)[0] for _ in range(6)]
    for s in streams:
        s.cancel()
    # Calls still flow; crispd stays healthy and stops cleanly (the fixture checks exit 0).
    for _ in range(20):
        assert crispd.call("Version", pb().VersionRequest()).runtime_name == "crisp"


def test_shutdown_ends_streams_with_unavailable(crispd):
    stream, out = open_stream(crispd)
    next_event(crispd, out, "c-1")
    crispd.send_signal(signal.SIGTERM)
    while True:
        item = out.get(timeout=20)
        if isinstance(item, grpc.RpcError):
            break
    assert item.code() == grpc.StatusCode.UNAVAILABLE
    assert "shutting down" in item.details()
    assert crispd.proc.wait(20) == 0
