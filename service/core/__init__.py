"""The matching core: plain Python, no grpc or protobuf.

The public surface is what this module exports; everything else in the
package is an implementation detail that may change.
"""

from service.core.config import NigranConfig, Thresholds
from service.core.domain import Match, NewReference, Post, PostResult, ReferenceItem, ReferenceState, Signal, Verdict
from service.core.engine import Engine
from service.core.errors import NigranError

__all__ = [
    "Engine",
    "Match",
    "NewReference",
    "NigranConfig",
    "NigranError",
    "Post",
    "PostResult",
    "ReferenceItem",
    "ReferenceState",
    "Signal",
    "Thresholds",
    "Verdict",
]
