"""The cluster's flags and environment variables (docs/configuration.md)."""

from __future__ import annotations

import pytest

from gateway.config import parse_config


def test_no_redis_url_means_one_process() -> None:
    config = parse_config([], env={})
    assert not config.cluster.enabled
    assert config.cluster.redis_url is None


def test_flags_and_environment() -> None:
    config = parse_config(["--redis-url", "redis://:pw-hidden@redis:6379/0", "--node-id", "gw-a",
                           "--node-url", "https://gw.example.com/?node=gw-a",
                           "--cluster-max-sessions", "40"], env={})
    assert config.cluster.enabled and config.cluster.node_id == "gw-a"
    assert config.cluster.node_url == "https://gw.example.com/?node=gw-a"
    assert config.cluster.max_sessions_total == 40
    assert "pw-hidden" not in repr(config)  # the URL may carry Redis's password
    env = {"GATEWAY_REDIS_URL": "redis://redis:6379", "GATEWAY_NODE_ID": "gw-b",
           "GATEWAY_NODE_URL": "https://gw-b.example.com", "GATEWAY_CLUSTER_MAX_SESSIONS": "9"}
    from_env = parse_config([], env=env)
    assert (from_env.cluster.node_id, from_env.cluster.node_url,
            from_env.cluster.max_sessions_total) == ("gw-b", "https://gw-b.example.com", 9)


def test_default_node_ids_differ() -> None:
    first = parse_config(["--redis-url", "redis://r", "--node-url", "http://h"], env={})
    second = parse_config(["--redis-url", "redis://r", "--node-url", "http://h"], env={})
    assert first.cluster.node_id != second.cluster.node_id


@pytest.mark.parametrize(("argv", "says"), [
    (["--redis-url", "redis://r"], "--node-url is required"),
    (["--redis-url", "http://r", "--node-url", "http://h"], "redis://"),
    (["--redis-url", "redis://r", "--node-url", "ws://h"], "http:// or https://"),
    (["--redis-url", "redis://r", "--node-url", "http://h", "--node-id", "a b"], "--node-id"),
])
def test_bad_combinations_stop_with_a_clear_error(argv: list[str], says: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_config(argv, env={})
    assert stopped.value.code == 2
    assert says in capsys.readouterr().err
