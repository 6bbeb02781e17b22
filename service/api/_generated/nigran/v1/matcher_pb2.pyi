from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    NO_MATCH: _ClassVar[Verdict]
    REUPLOAD: _ClassVar[Verdict]
    NEAR_DUPLICATE: _ClassVar[Verdict]
    TRANSLATION: _ClassVar[Verdict]
    PARAPHRASE: _ClassVar[Verdict]

class Signal(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNAL_UNSPECIFIED: _ClassVar[Signal]
    EXACT: _ClassVar[Signal]
    LEXICAL: _ClassVar[Signal]
    SEMANTIC: _ClassVar[Signal]

class Measure(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEASURE_UNSPECIFIED: _ClassVar[Measure]
    MEASURE_FINGERPRINT: _ClassVar[Measure]
    MEASURE_LEXICAL: _ClassVar[Measure]
    MEASURE_COSINE: _ClassVar[Measure]
    MEASURE_WORDS: _ClassVar[Measure]
    MEASURE_TRANSLATION_SCORE: _ClassVar[Measure]
    MEASURE_MARGIN: _ClassVar[Measure]
VERDICT_UNSPECIFIED: Verdict
NO_MATCH: Verdict
REUPLOAD: Verdict
NEAR_DUPLICATE: Verdict
TRANSLATION: Verdict
PARAPHRASE: Verdict
SIGNAL_UNSPECIFIED: Signal
EXACT: Signal
LEXICAL: Signal
SEMANTIC: Signal
MEASURE_UNSPECIFIED: Measure
MEASURE_FINGERPRINT: Measure
MEASURE_LEXICAL: Measure
MEASURE_COSINE: Measure
MEASURE_WORDS: Measure
MEASURE_TRANSLATION_SCORE: Measure
MEASURE_MARGIN: Measure

class Post(_message.Message):
    __slots__ = ("id", "text")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class MatchRequest(_message.Message):
    __slots__ = ("posts", "banks", "top_k", "exhaustive", "verdicts", "min_scores", "metadata_filter")
    class MetadataFilterEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    POSTS_FIELD_NUMBER: _ClassVar[int]
    BANKS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTIVE_FIELD_NUMBER: _ClassVar[int]
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FILTER_FIELD_NUMBER: _ClassVar[int]
    posts: _containers.RepeatedCompositeFieldContainer[Post]
    banks: _containers.RepeatedScalarFieldContainer[str]
    top_k: int
    exhaustive: bool
    verdicts: _containers.RepeatedScalarFieldContainer[Verdict]
    min_scores: _containers.RepeatedCompositeFieldContainer[ScoreFloor]
    metadata_filter: _containers.ScalarMap[str, str]
    def __init__(self, posts: _Optional[_Iterable[_Union[Post, _Mapping]]] = ..., banks: _Optional[_Iterable[str]] = ..., top_k: _Optional[int] = ..., exhaustive: _Optional[bool] = ..., verdicts: _Optional[_Iterable[_Union[Verdict, str]]] = ..., min_scores: _Optional[_Iterable[_Union[ScoreFloor, _Mapping]]] = ..., metadata_filter: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ScoreFloor(_message.Message):
    __slots__ = ("kind", "min_score")
    KIND_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    kind: Verdict
    min_score: float
    def __init__(self, kind: _Optional[_Union[Verdict, str]] = ..., min_score: _Optional[float] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("reference_id", "score", "kind", "bank", "labels", "signal", "cosine", "reference_lang", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REFERENCE_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BANK_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    COSINE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_LANG_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    reference_id: str
    score: float
    kind: Verdict
    bank: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    signal: Signal
    cosine: float
    reference_lang: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, reference_id: _Optional[str] = ..., score: _Optional[float] = ..., kind: _Optional[_Union[Verdict, str]] = ..., bank: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., signal: _Optional[_Union[Signal, str]] = ..., cosine: _Optional[float] = ..., reference_lang: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class PostResult(_message.Message):
    __slots__ = ("post_id", "verdict", "matches", "detected_lang", "suppressed_by", "fingerprint")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    DETECTED_LANG_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_BY_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    post_id: str
    verdict: Verdict
    matches: _containers.RepeatedCompositeFieldContainer[Match]
    detected_lang: str
    suppressed_by: str
    fingerprint: str
    def __init__(self, post_id: _Optional[str] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., matches: _Optional[_Iterable[_Union[Match, _Mapping]]] = ..., detected_lang: _Optional[str] = ..., suppressed_by: _Optional[str] = ..., fingerprint: _Optional[str] = ...) -> None: ...

class MatchResponse(_message.Message):
    __slots__ = ("results", "error")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[PostResult]
    error: _status_pb2.Status
    def __init__(self, results: _Optional[_Iterable[_Union[PostResult, _Mapping]]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class CompareRequest(_message.Message):
    __slots__ = ("text_a", "text_b")
    TEXT_A_FIELD_NUMBER: _ClassVar[int]
    TEXT_B_FIELD_NUMBER: _ClassVar[int]
    text_a: str
    text_b: str
    def __init__(self, text_a: _Optional[str] = ..., text_b: _Optional[str] = ...) -> None: ...

class SignalScore(_message.Message):
    __slots__ = ("measure", "score", "threshold", "cleared")
    MEASURE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    measure: Measure
    score: float
    threshold: float
    cleared: bool
    def __init__(self, measure: _Optional[_Union[Measure, str]] = ..., score: _Optional[float] = ..., threshold: _Optional[float] = ..., cleared: _Optional[bool] = ...) -> None: ...

class CompareResponse(_message.Message):
    __slots__ = ("verdict", "reason", "lang_a", "lang_b", "fingerprint_a", "fingerprint_b", "signals", "decided_by")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LANG_A_FIELD_NUMBER: _ClassVar[int]
    LANG_B_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_A_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_B_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    reason: str
    lang_a: str
    lang_b: str
    fingerprint_a: str
    fingerprint_b: str
    signals: _containers.RepeatedCompositeFieldContainer[SignalScore]
    decided_by: Measure
    def __init__(self, verdict: _Optional[_Union[Verdict, str]] = ..., reason: _Optional[str] = ..., lang_a: _Optional[str] = ..., lang_b: _Optional[str] = ..., fingerprint_a: _Optional[str] = ..., fingerprint_b: _Optional[str] = ..., signals: _Optional[_Iterable[_Union[SignalScore, _Mapping]]] = ..., decided_by: _Optional[_Union[Measure, str]] = ...) -> None: ...
