"""The label taxonomy: ``namespace:value``, from a small fixed set of namespaces.

A fixed set keeps labels filterable and exchangeable between deployments
(a typo such as ``orgs:x`` would otherwise silently create a new facet).
Values are free text within a namespace; free-form key/value data belongs in
an item's metadata instead.
"""

from __future__ import annotations

import re
from typing import Iterable

from service.core.errors import InvalidInput

#: namespace -> what it labels (shown in errors and the README).
NAMESPACES: dict[str, str] = {
    "org": "organisation or entity the content is attributed to",
    "ideology": "ideology or movement",
    "type": "content type (e.g. call-to-violence, recruitment, claim-of-attack)",
    "source": "where the item came from (e.g. gifct, tcap, internal-review)",
}

_VALUE = re.compile(r"^[^\s:][^\n\r\t]{0,127}$")


def check_label(label: str, field: str) -> str:
    """Normalise one label (trimmed, namespace lower-cased) or raise InvalidInput naming the field."""
    label = label.strip()
    namespace, sep, value = label.partition(":")
    namespace, value = namespace.strip().lower(), value.strip()
    if not sep or not namespace or not value:
        raise InvalidInput(field, f"label {label!r} must be namespace:value, with namespace one of {', '.join(NAMESPACES)}")
    if namespace not in NAMESPACES:
        raise InvalidInput(field, f"unknown label namespace {namespace!r}; use one of {', '.join(NAMESPACES)}")
    if not _VALUE.match(value):
        raise InvalidInput(field, f"label value {value!r} must be 1-128 characters without tabs or newlines")
    return f"{namespace}:{value}"


def check_labels(labels: Iterable[str], field: str) -> tuple[str, ...]:
    """Validate and de-duplicate labels, keeping their order."""
    # A dict keeps first-seen order and makes de-duplication linear.
    out: dict[str, None] = {}
    for i, label in enumerate(labels):
        out.setdefault(check_label(label, f"{field}[{i}]"))
    return tuple(out)
