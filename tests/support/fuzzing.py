"""Hostile calls for every RPC: random wire bytes, and well-formed messages with hostile field values.

Messages are built from the protos' own descriptors, so a new field or RPC is
fuzzed without anyone remembering to add it. Strings come from a list of the
texts that have hurt services like this one (long runs with no space, a
16 KB run of one Arabic letter, bidi controls, huge ids) mixed with random
Unicode; numbers from the edges of their types; enums include numbers the
API does not define; timestamps run past year 9999.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterator

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor

from service.api._generated.nigran.v1 import admin_pb2, curation_pb2, matcher_pb2

SERVICES = [
    matcher_pb2.DESCRIPTOR.services_by_name["Matcher"],
    curation_pb2.DESCRIPTOR.services_by_name["Curation"],
    admin_pb2.DESCRIPTOR.services_by_name["Admin"],
]
METHODS: list[MethodDescriptor] = [m for s in SERVICES for m in s.methods]

# Codes a hostile call may get. INTERNAL or UNKNOWN would be the service failing;
# UNAVAILABLE or DEADLINE_EXCEEDED it falling over or stalling.
ACCEPTABLE = frozenset({
    grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.OUT_OF_RANGE,
})

HOSTILE_TEXTS = [
    "", " ", "\n\t", "a" * 32768, "ب" * 16384, "a@" * 8000, "a." * 10000, "http://" + "x" * 20000, "www." * 5000,
    "#" * 10000, "@" * 10000, "-" * 20000, "🔥" * 5000, "\u202e" * 1000 + "text", "\u200d" * 10000, "َ" * 10000,
    "Fwd: " * 3000 + "x", "\n" * 10000, "0" * 30000, "x" * 40000, "default", "../../etc/passwd", "/etc/passwd",
    ".", "LATEST", "org:x", "namespace:" + "v" * 200, "id-" + "9" * 5000, "²", "①", "9" * 5000,
]
_INTS = [0, 1, -1, 2, 99, 255, 256, 2**31 - 1, -(2**31), 2**32 - 1, 2**63 - 1, -(2**63), 2**64 - 1]
_FLOATS = [0.0, -0.0, 1.0, -1.0, 1e308, -1e308, float("inf"), float("-inf"), float("nan"), 1e-308]
_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1), FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(HOSTILE_TEXTS)
    size = rng.choice([1, 3, 10, 100, 1000])
    # Any code point but surrogates, which UTF-8 (and so protobuf) cannot carry.
    return "".join(chr(c if not 0xD800 <= c <= 0xDFFF else 0x20) for c in (rng.randrange(0x110000) for _ in range(size)))


def _scalar(field: FieldDescriptor, rng: random.Random) -> Any:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return _text(rng)
    if kind == FieldDescriptor.TYPE_BYTES:
        return rng.randbytes(rng.choice([0, 1, 16, 1000]))
    if kind == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice(_FLOATS)
    if kind == FieldDescriptor.TYPE_ENUM:
        return rng.choice([*(v.number for v in field.enum_type.values), 99, -1, 2**31 - 1])
    low, high = _RANGES[kind]
    return rng.choice([i for i in _INTS if low <= i <= high])


def random_message(descriptor: Descriptor, rng: random.Random, depth: int = 0) -> Any:
    message = message_factory.GetMessageClass(descriptor)()
    for field in descriptor.fields:
        if rng.random() < 0.4:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            target = getattr(message, field.name)
            for _ in range(rng.choice([1, 3, 70])):
                target[_scalar(key_field, rng)] = _scalar(value_field, rng)
        elif field.message_type is not None:
            if depth > 3:
                continue
            count = rng.choice([1, 2, 5, 300]) if field.is_repeated else 1
            for _ in range(count):
                child = random_message(field.message_type, rng, depth + 1)
                if field.is_repeated:
                    getattr(message, field.name).add().CopyFrom(child)
                else:
                    getattr(message, field.name).CopyFrom(child)
        elif field.is_repeated:
            getattr(message, field.name).extend(_scalar(field, rng) for _ in range(rng.choice([1, 2, 10, 300])))
        else:
            setattr(message, field.name, _scalar(field, rng))
    return message


def random_payload(method: MethodDescriptor, rng: random.Random) -> bytes:
    """One request message's wire bytes: random bytes a third of the time, else a hostile message."""
    if rng.random() < 0.33:
        return rng.randbytes(rng.choice([1, 5, 64, 4096]))
    data: bytes = random_message(method.input_type, rng).SerializeToString()
    return data


@dataclass
class Fuzzer:
    """Sends hostile calls over a real channel and counts the status codes they get."""

    channel: grpc.Channel
    metadata: tuple[tuple[str, str], ...] = ()
    timeout: float = 20.0

    def __post_init__(self) -> None:
        self.codes: Counter[str] = Counter()
        self.bad: list[tuple[str, str, str]] = []

    def call(self, method: MethodDescriptor, rng: random.Random) -> grpc.StatusCode:
        path = f"/{method.containing_service.full_name}/{method.name}"
        identity = {"request_serializer": lambda b: b, "response_deserializer": lambda b: b}
        payloads = [random_payload(method, rng) for _ in range(rng.choice([1, 2, 3]) if method.client_streaming else 1)]
        code = grpc.StatusCode.OK
        try:
            if method.client_streaming and method.server_streaming:
                list(self.channel.stream_stream(path, **identity)(iter(payloads), timeout=self.timeout, metadata=self.metadata))
            elif method.client_streaming:
                self.channel.stream_unary(path, **identity)(iter(payloads), timeout=self.timeout, metadata=self.metadata)
            elif method.server_streaming:
                list(self.channel.unary_stream(path, **identity)(payloads[0], timeout=self.timeout, metadata=self.metadata))
            else:
                self.channel.unary_unary(path, **identity)(payloads[0], timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as err:
            code = err.code()
            if code not in ACCEPTABLE:
                self.bad.append((path, code.name, err.details() or ""))
        self.codes[code.name] += 1
        return code

    def run(self, calls: int, seed: int) -> Iterator[grpc.StatusCode]:
        rng = random.Random(seed)
        for _ in range(calls):
            yield self.call(rng.choice(METHODS), rng)
