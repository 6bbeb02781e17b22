"""The authentication interceptor's configuration: every token names a known role."""

from __future__ import annotations

import pytest

from service.api.interceptors import ROLES, AuthInterceptor
from service.api.metrics import Metrics
from service.core import AuthConfig, ConfigError
from tests.support.doubles import Clock


def test_a_misspelt_role_is_refused_at_start() -> None:
    # Otherwise every call made with that token would be refused, and nothing would say why.
    with pytest.raises(ConfigError, match="curater"):
        AuthInterceptor(AuthConfig(tokens={"secret": "curater:ann"}), Metrics())


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_known_role_is_accepted_with_or_without_a_name(role: str) -> None:
    AuthInterceptor(AuthConfig(tokens={"a": role, "b": f"{role}:someone"}), Metrics())


def test_failures_are_counted_per_address_not_per_connection() -> None:
    clock = Clock()
    auth = AuthInterceptor(AuthConfig(tokens={"secret": "admin"}, max_failures=3, failure_window_seconds=60), Metrics(), clock=clock)
    for port in (40001, 40002, 40003):  # an attacker reconnecting for each guess
        auth._refused(f"ipv4:203.0.113.7:{port}", "/nigran.v1.Matcher/Match", "unknown token", clock.now)
    assert auth._throttled("ipv4:203.0.113.7:40004", clock.now)
    assert not auth._throttled("ipv4:203.0.113.8:40001", clock.now)
    auth._refused("ipv6:[2001:db8::1]:5000", "/m", "unknown token", clock.now)
    assert "ipv6:[2001:db8::1]" in auth._failures
    clock.now += 61
    assert not auth._throttled("ipv4:203.0.113.7:40005", clock.now)


def test_the_failure_table_stays_bounded_when_many_addresses_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    import service.api.interceptors as interceptors

    monkeypatch.setattr(interceptors, "_MAX_TRACKED_PEERS", 50)
    clock = Clock()
    auth = AuthInterceptor(AuthConfig(tokens={"secret": "admin"}, max_failures=3), Metrics(), clock=clock)
    for i in range(500):
        clock.now += 0.01
        auth._refused(f"ipv4:198.51.100.{i % 250}.{i}:1", "/m", "no token", clock.now)
    assert len(auth._failures) <= 50 and len(auth._logged_at) <= 50
