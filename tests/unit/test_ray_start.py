"""A local Ray that does not come up (Ray's fixed 30 s wait for its raylet, on a busy machine)
is a user-facing condition: one line saying what to do, not Ray's bare Exception."""

import pytest

ray = pytest.importorskip("ray")

from smoot_dist.foundations.errors import UserError  # noqa: E402
from smoot_dist.launch import ray_cluster  # noqa: E402


def _failing_init(message):
    def init(*args, **kwargs):
        raise Exception(message)
    return init


def test_a_local_ray_that_times_out_at_startup_gets_one_line(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", _failing_init(
        "The current node timed out during startup. This could happen because ..."))
    with pytest.raises(UserError, match="a local Ray did not start .*too busy.*--ray-address"):
        ray_cluster.connect()


def test_other_failures_are_not_disguised(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", _failing_init("something else broke"))
    with pytest.raises(Exception, match="something else broke") as err:
        ray_cluster.connect()
    assert not isinstance(err.value, UserError)
