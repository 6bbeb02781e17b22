import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from nigran.v1 import matcher_pb2 as _matcher_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReferenceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFERENCE_STATE_UNSPECIFIED: _ClassVar[ReferenceState]
    ACTIVE: _ClassVar[ReferenceState]
    DISABLED: _ClassVar[ReferenceState]
    QUARANTINED: _ClassVar[ReferenceState]
    REMOVED: _ClassVar[ReferenceState]

class BankKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BANK_KIND_UNSPECIFIED: _ClassVar[BankKind]
    NORMAL: _ClassVar[BankKind]
    SUPPRESSION: _ClassVar[BankKind]

class FeedbackVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEEDBACK_VERDICT_UNSPECIFIED: _ClassVar[FeedbackVerdict]
    TRUE_POSITIVE: _ClassVar[FeedbackVerdict]
    FALSE_POSITIVE: _ClassVar[FeedbackVerdict]
REFERENCE_STATE_UNSPECIFIED: ReferenceState
ACTIVE: ReferenceState
DISABLED: ReferenceState
QUARANTINED: ReferenceState
REMOVED: ReferenceState
BANK_KIND_UNSPECIFIED: BankKind
NORMAL: BankKind
SUPPRESSION: BankKind
FEEDBACK_VERDICT_UNSPECIFIED: FeedbackVerdict
TRUE_POSITIVE: FeedbackVerdict
FALSE_POSITIVE: FeedbackVerdict

class ReferenceInput(_message.Message):
    __slots__ = ("id", "text", "lang", "bank", "labels", "metadata", "fingerprint")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LANG_FIELD_NUMBER: _ClassVar[int]
    BANK_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    lang: str
    bank: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    metadata: _containers.ScalarMap[str, str]
    fingerprint: str
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ..., lang: _Optional[str] = ..., bank: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., fingerprint: _Optional[str] = ...) -> None: ...

class Reference(_message.Message):
    __slots__ = ("id", "text", "declared_lang", "detected_lang", "bank", "labels", "metadata", "added_by", "created_at", "updated_at", "state", "disabled_until", "fingerprint", "change_seq")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DECLARED_LANG_FIELD_NUMBER: _ClassVar[int]
    DETECTED_LANG_FIELD_NUMBER: _ClassVar[int]
    BANK_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ADDED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DISABLED_UNTIL_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_SEQ_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    declared_lang: str
    detected_lang: str
    bank: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    metadata: _containers.ScalarMap[str, str]
    added_by: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    state: ReferenceState
    disabled_until: _timestamp_pb2.Timestamp
    fingerprint: str
    change_seq: int
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ..., declared_lang: _Optional[str] = ..., detected_lang: _Optional[str] = ..., bank: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., added_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[ReferenceState, str]] = ..., disabled_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fingerprint: _Optional[str] = ..., change_seq: _Optional[int] = ...) -> None: ...

class AddReferencesRequest(_message.Message):
    __slots__ = ("references",)
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    references: _containers.RepeatedCompositeFieldContainer[ReferenceInput]
    def __init__(self, references: _Optional[_Iterable[_Union[ReferenceInput, _Mapping]]] = ...) -> None: ...

class AddReferencesResponse(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveReferencesRequest(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class RemoveReferencesResponse(_message.Message):
    __slots__ = ("removed", "not_found")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    NOT_FOUND_FIELD_NUMBER: _ClassVar[int]
    removed: int
    not_found: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, removed: _Optional[int] = ..., not_found: _Optional[_Iterable[str]] = ...) -> None: ...

class GetReferenceRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class Bank(_message.Message):
    __slots__ = ("name", "description", "enabled", "kind", "thresholds", "effective_thresholds", "item_count", "created_by", "created_at", "updated_at", "match_share", "feedback")
    class ThresholdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class EffectiveThresholdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    MATCH_SHARE_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    enabled: bool
    kind: BankKind
    thresholds: _containers.ScalarMap[str, float]
    effective_thresholds: _containers.ScalarMap[str, float]
    item_count: int
    created_by: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    match_share: float
    feedback: FeedbackSummary
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., enabled: _Optional[bool] = ..., kind: _Optional[_Union[BankKind, str]] = ..., thresholds: _Optional[_Mapping[str, float]] = ..., effective_thresholds: _Optional[_Mapping[str, float]] = ..., item_count: _Optional[int] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., match_share: _Optional[float] = ..., feedback: _Optional[_Union[FeedbackSummary, _Mapping]] = ...) -> None: ...

class GetBankStatsRequest(_message.Message):
    __slots__ = ("name", "days")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    name: str
    days: int
    def __init__(self, name: _Optional[str] = ..., days: _Optional[int] = ...) -> None: ...

class DailyFeedback(_message.Message):
    __slots__ = ("day", "feedback")
    DAY_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    day: _timestamp_pb2.Timestamp
    feedback: FeedbackSummary
    def __init__(self, day: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., feedback: _Optional[_Union[FeedbackSummary, _Mapping]] = ...) -> None: ...

class BankStats(_message.Message):
    __slots__ = ("name", "feedback", "daily")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    DAILY_FIELD_NUMBER: _ClassVar[int]
    name: str
    feedback: FeedbackSummary
    daily: _containers.RepeatedCompositeFieldContainer[DailyFeedback]
    def __init__(self, name: _Optional[str] = ..., feedback: _Optional[_Union[FeedbackSummary, _Mapping]] = ..., daily: _Optional[_Iterable[_Union[DailyFeedback, _Mapping]]] = ...) -> None: ...

class CreateBankRequest(_message.Message):
    __slots__ = ("name", "description", "disabled", "kind", "thresholds", "match_share")
    class ThresholdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    MATCH_SHARE_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    disabled: bool
    kind: BankKind
    thresholds: _containers.ScalarMap[str, float]
    match_share: float
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., disabled: _Optional[bool] = ..., kind: _Optional[_Union[BankKind, str]] = ..., thresholds: _Optional[_Mapping[str, float]] = ..., match_share: _Optional[float] = ...) -> None: ...

class ListBanksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListBanksResponse(_message.Message):
    __slots__ = ("banks",)
    BANKS_FIELD_NUMBER: _ClassVar[int]
    banks: _containers.RepeatedCompositeFieldContainer[Bank]
    def __init__(self, banks: _Optional[_Iterable[_Union[Bank, _Mapping]]] = ...) -> None: ...

class UpdateBankRequest(_message.Message):
    __slots__ = ("name", "description", "enabled", "kind", "set_thresholds", "clear_thresholds", "match_share")
    class SetThresholdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SET_THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    CLEAR_THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    MATCH_SHARE_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    enabled: bool
    kind: BankKind
    set_thresholds: _containers.ScalarMap[str, float]
    clear_thresholds: _containers.RepeatedScalarFieldContainer[str]
    match_share: float
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., enabled: _Optional[bool] = ..., kind: _Optional[_Union[BankKind, str]] = ..., set_thresholds: _Optional[_Mapping[str, float]] = ..., clear_thresholds: _Optional[_Iterable[str]] = ..., match_share: _Optional[float] = ...) -> None: ...

class DeleteBankRequest(_message.Message):
    __slots__ = ("name", "force")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    force: bool
    def __init__(self, name: _Optional[str] = ..., force: _Optional[bool] = ...) -> None: ...

class DeleteBankResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: int
    def __init__(self, removed: _Optional[int] = ...) -> None: ...

class UpdateReferenceRequest(_message.Message):
    __slots__ = ("id", "add_labels", "remove_labels", "set_metadata", "remove_metadata")
    class SetMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    ADD_LABELS_FIELD_NUMBER: _ClassVar[int]
    REMOVE_LABELS_FIELD_NUMBER: _ClassVar[int]
    SET_METADATA_FIELD_NUMBER: _ClassVar[int]
    REMOVE_METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    add_labels: _containers.RepeatedScalarFieldContainer[str]
    remove_labels: _containers.RepeatedScalarFieldContainer[str]
    set_metadata: _containers.ScalarMap[str, str]
    remove_metadata: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., add_labels: _Optional[_Iterable[str]] = ..., remove_labels: _Optional[_Iterable[str]] = ..., set_metadata: _Optional[_Mapping[str, str]] = ..., remove_metadata: _Optional[_Iterable[str]] = ...) -> None: ...

class ReferenceIds(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DisableReferencesRequest(_message.Message):
    __slots__ = ("ids", "until")
    IDS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    until: _timestamp_pb2.Timestamp
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StateChangeResponse(_message.Message):
    __slots__ = ("changed", "not_found")
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    NOT_FOUND_FIELD_NUMBER: _ClassVar[int]
    changed: _containers.RepeatedScalarFieldContainer[str]
    not_found: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, changed: _Optional[_Iterable[str]] = ..., not_found: _Optional[_Iterable[str]] = ...) -> None: ...

class ListReferencesRequest(_message.Message):
    __slots__ = ("bank", "state", "label", "page_size", "page_token", "text")
    BANK_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    bank: str
    state: ReferenceState
    label: str
    page_size: int
    page_token: str
    text: str
    def __init__(self, bank: _Optional[str] = ..., state: _Optional[_Union[ReferenceState, str]] = ..., label: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class ListReferencesResponse(_message.Message):
    __slots__ = ("references", "next_page_token")
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    references: _containers.RepeatedCompositeFieldContainer[Reference]
    next_page_token: str
    def __init__(self, references: _Optional[_Iterable[_Union[Reference, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReportMatchRequest(_message.Message):
    __slots__ = ("reference_id", "post_id", "verdict", "note")
    REFERENCE_ID_FIELD_NUMBER: _ClassVar[int]
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    reference_id: str
    post_id: str
    verdict: FeedbackVerdict
    note: str
    def __init__(self, reference_id: _Optional[str] = ..., post_id: _Optional[str] = ..., verdict: _Optional[_Union[FeedbackVerdict, str]] = ..., note: _Optional[str] = ...) -> None: ...

class FeedbackSummary(_message.Message):
    __slots__ = ("true_positives", "false_positives", "precision")
    TRUE_POSITIVES_FIELD_NUMBER: _ClassVar[int]
    FALSE_POSITIVES_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    true_positives: int
    false_positives: int
    precision: float
    def __init__(self, true_positives: _Optional[int] = ..., false_positives: _Optional[int] = ..., precision: _Optional[float] = ...) -> None: ...

class ReportMatchResponse(_message.Message):
    __slots__ = ("feedback",)
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    feedback: FeedbackSummary
    def __init__(self, feedback: _Optional[_Union[FeedbackSummary, _Mapping]] = ...) -> None: ...

class ReferenceStats(_message.Message):
    __slots__ = ("reference_id", "state", "feedback", "recent_matches", "recent_posts", "usual_matches", "usual_posts")
    REFERENCE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    RECENT_MATCHES_FIELD_NUMBER: _ClassVar[int]
    RECENT_POSTS_FIELD_NUMBER: _ClassVar[int]
    USUAL_MATCHES_FIELD_NUMBER: _ClassVar[int]
    USUAL_POSTS_FIELD_NUMBER: _ClassVar[int]
    reference_id: str
    state: ReferenceState
    feedback: FeedbackSummary
    recent_matches: int
    recent_posts: int
    usual_matches: int
    usual_posts: int
    def __init__(self, reference_id: _Optional[str] = ..., state: _Optional[_Union[ReferenceState, str]] = ..., feedback: _Optional[_Union[FeedbackSummary, _Mapping]] = ..., recent_matches: _Optional[int] = ..., recent_posts: _Optional[int] = ..., usual_matches: _Optional[int] = ..., usual_posts: _Optional[int] = ...) -> None: ...

class GetCurationStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StateCount(_message.Message):
    __slots__ = ("state", "count")
    STATE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    state: ReferenceState
    count: int
    def __init__(self, state: _Optional[_Union[ReferenceState, str]] = ..., count: _Optional[int] = ...) -> None: ...

class CurationStats(_message.Message):
    __slots__ = ("by_state", "banks", "index_size", "quarantine_enabled", "thresholds_bank_size", "thresholds_bank_by_lang", "thresholds_sized_for", "expected_fp_per_post", "target_fp_per_post", "thresholds_follow_bank")
    class ThresholdsBankByLangEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ExpectedFpPerPostEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    BY_STATE_FIELD_NUMBER: _ClassVar[int]
    BANKS_FIELD_NUMBER: _ClassVar[int]
    INDEX_SIZE_FIELD_NUMBER: _ClassVar[int]
    QUARANTINE_ENABLED_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_BANK_SIZE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_BANK_BY_LANG_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_SIZED_FOR_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FP_PER_POST_FIELD_NUMBER: _ClassVar[int]
    TARGET_FP_PER_POST_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FOLLOW_BANK_FIELD_NUMBER: _ClassVar[int]
    by_state: _containers.RepeatedCompositeFieldContainer[StateCount]
    banks: int
    index_size: int
    quarantine_enabled: bool
    thresholds_bank_size: int
    thresholds_bank_by_lang: _containers.ScalarMap[str, int]
    thresholds_sized_for: int
    expected_fp_per_post: _containers.ScalarMap[str, float]
    target_fp_per_post: float
    thresholds_follow_bank: bool
    def __init__(self, by_state: _Optional[_Iterable[_Union[StateCount, _Mapping]]] = ..., banks: _Optional[int] = ..., index_size: _Optional[int] = ..., quarantine_enabled: _Optional[bool] = ..., thresholds_bank_size: _Optional[int] = ..., thresholds_bank_by_lang: _Optional[_Mapping[str, int]] = ..., thresholds_sized_for: _Optional[int] = ..., expected_fp_per_post: _Optional[_Mapping[str, float]] = ..., target_fp_per_post: _Optional[float] = ..., thresholds_follow_bank: _Optional[bool] = ...) -> None: ...

class QueryAuditRequest(_message.Message):
    __slots__ = ("target", "actor", "action", "since", "page_size", "page_token")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    target: str
    actor: str
    action: str
    since: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, target: _Optional[str] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("seq", "at", "actor", "action", "target", "old_json", "new_json")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    OLD_JSON_FIELD_NUMBER: _ClassVar[int]
    NEW_JSON_FIELD_NUMBER: _ClassVar[int]
    seq: int
    at: _timestamp_pb2.Timestamp
    actor: str
    action: str
    target: str
    old_json: str
    new_json: str
    def __init__(self, seq: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., target: _Optional[str] = ..., old_json: _Optional[str] = ..., new_json: _Optional[str] = ...) -> None: ...

class QueryAuditResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListMatchLogRequest(_message.Message):
    __slots__ = ("bank", "verdict", "label", "include_reviewed", "page_size", "page_token")
    BANK_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_REVIEWED_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    bank: str
    verdict: _matcher_pb2.Verdict
    label: str
    include_reviewed: bool
    page_size: int
    page_token: str
    def __init__(self, bank: _Optional[str] = ..., verdict: _Optional[_Union[_matcher_pb2.Verdict, str]] = ..., label: _Optional[str] = ..., include_reviewed: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class LoggedMatch(_message.Message):
    __slots__ = ("seq", "at", "post_id", "post_text", "post_lang", "match", "review")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    POST_TEXT_FIELD_NUMBER: _ClassVar[int]
    POST_LANG_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    seq: int
    at: _timestamp_pb2.Timestamp
    post_id: str
    post_text: str
    post_lang: str
    match: _matcher_pb2.Match
    review: FeedbackVerdict
    def __init__(self, seq: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., post_id: _Optional[str] = ..., post_text: _Optional[str] = ..., post_lang: _Optional[str] = ..., match: _Optional[_Union[_matcher_pb2.Match, _Mapping]] = ..., review: _Optional[_Union[FeedbackVerdict, str]] = ...) -> None: ...

class ListMatchLogResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[LoggedMatch]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[LoggedMatch, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ExportReferencesRequest(_message.Message):
    __slots__ = ("after", "limit")
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    after: int
    limit: int
    def __init__(self, after: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ImportReferencesResponse(_message.Message):
    __slots__ = ("added", "updated", "removed", "unchanged", "skipped")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    added: int
    updated: int
    removed: int
    unchanged: int
    skipped: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, added: _Optional[int] = ..., updated: _Optional[int] = ..., removed: _Optional[int] = ..., unchanged: _Optional[int] = ..., skipped: _Optional[_Iterable[str]] = ...) -> None: ...
