"""What each role may see of the reference items a match names.

A matcher token is a platform's pipeline: it needs the verdict, the item's
id, bank and labels, not the analysts' notes. A reference's metadata goes back
only to the roles in ``auth.metadata_roles``, and a role listed in
``auth.label_namespaces`` sees only labels of those namespaces. Without
authentication every caller is trusted with everything (loopback only).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

from service.core import AuthConfig, PostResult


@dataclass(frozen=True)
class MatchView:
    metadata: bool = True
    # None: every label; otherwise the namespaces shown.
    label_namespaces: frozenset[str] | None = None


EVERYTHING = MatchView()


def view_for(role: str | None, auth: AuthConfig) -> MatchView:
    if not auth.enabled or role is None:
        return EVERYTHING
    namespaces = auth.label_namespaces.get(role)
    return MatchView(
        metadata=role in auth.metadata_roles,
        label_namespaces=None if namespaces is None else frozenset(namespaces),
    )


def redact(results: Sequence[PostResult], view: MatchView) -> list[PostResult]:
    if view == EVERYTHING:
        return list(results)
    out = []
    for result in results:
        matches = tuple(
            dataclasses.replace(
                m,
                metadata=m.metadata if view.metadata else {},
                labels=m.labels if view.label_namespaces is None else tuple(
                    label for label in m.labels if label.partition(":")[0] in view.label_namespaces
                ),
            )
            for m in result.matches
        )
        out.append(dataclasses.replace(result, matches=matches))
    return out
