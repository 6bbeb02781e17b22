"""The label taxonomy: ``namespace:value`` from a fixed set of namespaces, normalised and de-duplicated."""

from __future__ import annotations

import pytest

from service.core import InvalidInput
from service.core.curation.labels import NAMESPACES, check_label, check_labels


def test_the_namespaces_are_fixed() -> None:
    # Adding one is a deliberate change: labels are exchanged between deployments.
    assert set(NAMESPACES) == {"org", "ideology", "type", "source"}


@pytest.mark.parametrize("namespace", sorted(NAMESPACES))
def test_every_namespace_is_accepted(namespace: str) -> None:
    assert check_label(f"{namespace}:x", "labels[0]") == f"{namespace}:x"


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("  ORG : Example Group  ", "org:Example Group"),
        ("Type:Call-To-Violence", "type:Call-To-Violence"),
        # Only the first colon separates: the value may hold more.
        ("source:tcap:2024", "source:tcap:2024"),
        ("ideology:ناشر", "ideology:ناشر"),
    ],
)
def test_labels_are_normalised(raw: str, normal: str) -> None:
    # The namespace is lower-cased and both sides trimmed; the value keeps its case.
    assert check_label(raw, "labels[0]") == normal


@pytest.mark.parametrize(
    ("label", "says"),
    [
        ("org", "namespace:value"),
        (":value", "namespace:value"),
        ("org:", "namespace:value"),
        ("org:   ", "namespace:value"),
        ("orgs:typo", "unknown label namespace 'orgs'"),
        ("org::leading-colon", "1-128 characters"),
        ("org:tab\there", "1-128 characters"),
        ("org:new\nline", "1-128 characters"),
        ("org:" + "x" * 129, "1-128 characters"),
    ],
)
def test_bad_labels_name_the_field(label: str, says: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_label(label, "references[2].labels[4]")
    assert exc.value.field == "references[2].labels[4]"
    assert says in exc.value.message


def test_longest_value_is_accepted() -> None:
    assert check_label("org:" + "x" * 128, "f") == "org:" + "x" * 128


def test_check_labels_deduplicates_keeping_order() -> None:
    labels = ["type:b", "ORG:a", " org:a ", "type:b", "source:c"]
    assert check_labels(labels, "labels") == ("type:b", "org:a", "source:c")
    assert check_labels([], "labels") == ()


def test_check_labels_names_the_position_in_the_input() -> None:
    # The index is the caller's, not the position after de-duplication.
    with pytest.raises(InvalidInput) as exc:
        check_labels(["org:a", "org:a", "nope"], "add_labels")
    assert exc.value.field == "add_labels[2]"
