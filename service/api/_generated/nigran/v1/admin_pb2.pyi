from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class LoadIndexRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class LoadIndexResponse(_message.Message):
    __slots__ = ("path", "version", "model_id", "index_type", "generation", "added", "removed", "size", "recall_at_10")
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_TYPE_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    RECALL_AT_10_FIELD_NUMBER: _ClassVar[int]
    path: str
    version: str
    model_id: str
    index_type: str
    generation: int
    added: int
    removed: int
    size: int
    recall_at_10: float
    def __init__(self, path: _Optional[str] = ..., version: _Optional[str] = ..., model_id: _Optional[str] = ..., index_type: _Optional[str] = ..., generation: _Optional[int] = ..., added: _Optional[int] = ..., removed: _Optional[int] = ..., size: _Optional[int] = ..., recall_at_10: _Optional[float] = ...) -> None: ...
