"""The authentication interceptor's configuration: every token names a known role."""

from __future__ import annotations

import pytest

from service.api.interceptors import ROLES, AuthInterceptor
from service.core import AuthConfig, ConfigError


def test_a_misspelt_role_is_refused_at_start() -> None:
    # Otherwise every call made with that token would be refused, and nothing would say why.
    with pytest.raises(ConfigError, match="curater"):
        AuthInterceptor(AuthConfig(tokens={"secret": "curater:ann"}))


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_known_role_is_accepted_with_or_without_a_name(role: str) -> None:
    AuthInterceptor(AuthConfig(tokens={"a": role, "b": f"{role}:someone"}))
