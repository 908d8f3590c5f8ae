"""A blocked call never delays another: the test-only sleep hook holds calls while others run."""
import grpc

from conftest import pb

SLOW = [("crisp-test-sleep-ms", "4000")]


def test_blocked_calls_do_not_delay_others(crispd):
    # More sleepers than the pool's starting workers: the pool must grow to keep serving.
    slow = [crispd.call_future("Version", pb().VersionRequest(), metadata=SLOW) for _ in range(12)]
    for _ in range(50):
        assert crispd.call("Version", pb().VersionRequest(), timeout=10).runtime_name == "crisp"
        assert crispd.call("Status", pb().StatusRequest(), timeout=10).status.conditions
    # The quick calls all finished while every slow one was still being served.
    assert not any(f.done() for f in slow)
    for f in slow:
        assert f.result().runtime_name == "crisp"


def test_many_concurrent_clients(crispd):
    channels = [grpc.insecure_channel("unix://" + crispd.sock) for _ in range(8)]
    try:
        futures = []
        for ch in channels:
            stub = ch.unary_unary("/runtime.v1.RuntimeService/Version",
                                  request_serializer=lambda m: m.SerializeToString(),
                                  response_deserializer=pb().VersionResponse.FromString)
            futures += [stub.future(pb().VersionRequest(), timeout=30) for _ in range(100)]
        assert all(f.result().runtime_name == "crisp" for f in futures)
    finally:
        for ch in channels:
            ch.close()
