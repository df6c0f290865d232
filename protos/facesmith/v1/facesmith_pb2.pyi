from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DTYPE_UNSPECIFIED: _ClassVar[DType]
    DTYPE_UINT8: _ClassVar[DType]
    DTYPE_UINT16: _ClassVar[DType]
    DTYPE_FLOAT32: _ClassVar[DType]
DTYPE_UNSPECIFIED: DType
DTYPE_UINT8: DType
DTYPE_UINT16: DType
DTYPE_FLOAT32: DType

class Image(_message.Message):
    __slots__ = ("encoding", "data", "height", "width", "channels", "dtype")
    class Encoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ENCODING_UNSPECIFIED: _ClassVar[Image.Encoding]
        ENCODING_RAW: _ClassVar[Image.Encoding]
        ENCODING_PNG: _ClassVar[Image.Encoding]
    ENCODING_UNSPECIFIED: Image.Encoding
    ENCODING_RAW: Image.Encoding
    ENCODING_PNG: Image.Encoding
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    encoding: Image.Encoding
    data: bytes
    height: int
    width: int
    channels: int
    dtype: DType
    def __init__(self, encoding: _Optional[_Union[Image.Encoding, str]] = ..., data: _Optional[bytes] = ..., height: _Optional[int] = ..., width: _Optional[int] = ..., channels: _Optional[int] = ..., dtype: _Optional[_Union[DType, str]] = ...) -> None: ...

class Latent(_message.Message):
    __slots__ = ("space", "num_ws", "dim", "values")
    SPACE_FIELD_NUMBER: _ClassVar[int]
    NUM_WS_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    space: str
    num_ws: int
    dim: int
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, space: _Optional[str] = ..., num_ws: _Optional[int] = ..., dim: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class EditSpec(_message.Message):
    __slots__ = ("name", "strength", "hold", "mode", "target")
    class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MODE_RELATIVE: _ClassVar[EditSpec.Mode]
        MODE_SET: _ClassVar[EditSpec.Mode]
        MODE_SWAP: _ClassVar[EditSpec.Mode]
    MODE_RELATIVE: EditSpec.Mode
    MODE_SET: EditSpec.Mode
    MODE_SWAP: EditSpec.Mode
    NAME_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    name: str
    strength: float
    hold: _containers.RepeatedScalarFieldContainer[str]
    mode: EditSpec.Mode
    target: float
    def __init__(self, name: _Optional[str] = ..., strength: _Optional[float] = ..., hold: _Optional[_Iterable[str]] = ..., mode: _Optional[_Union[EditSpec.Mode, str]] = ..., target: _Optional[float] = ...) -> None: ...

class EditInfo(_message.Message):
    __slots__ = ("name", "description", "min", "max", "default", "space", "settable", "kind", "unit", "target_min", "target_max", "group")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    SETTABLE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    TARGET_MIN_FIELD_NUMBER: _ClassVar[int]
    TARGET_MAX_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    min: float
    max: float
    default: float
    space: str
    settable: bool
    kind: str
    unit: str
    target_min: float
    target_max: float
    group: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., min: _Optional[float] = ..., max: _Optional[float] = ..., default: _Optional[float] = ..., space: _Optional[str] = ..., settable: _Optional[bool] = ..., kind: _Optional[str] = ..., unit: _Optional[str] = ..., target_min: _Optional[float] = ..., target_max: _Optional[float] = ..., group: _Optional[str] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("pack_name", "resolution", "latent_space", "num_ws", "latent_dim", "device", "edits", "preview_resolutions", "max_batch", "version", "alignment", "students", "sketch")
    PACK_NAME_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    LATENT_SPACE_FIELD_NUMBER: _ClassVar[int]
    NUM_WS_FIELD_NUMBER: _ClassVar[int]
    LATENT_DIM_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    EDITS_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_RESOLUTIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ALIGNMENT_FIELD_NUMBER: _ClassVar[int]
    STUDENTS_FIELD_NUMBER: _ClassVar[int]
    SKETCH_FIELD_NUMBER: _ClassVar[int]
    pack_name: str
    resolution: int
    latent_space: str
    num_ws: int
    latent_dim: int
    device: str
    edits: _containers.RepeatedCompositeFieldContainer[EditInfo]
    preview_resolutions: _containers.RepeatedScalarFieldContainer[int]
    max_batch: int
    version: str
    alignment: str
    students: _containers.RepeatedCompositeFieldContainer[StudentInfo]
    sketch: bool
    def __init__(self, pack_name: _Optional[str] = ..., resolution: _Optional[int] = ..., latent_space: _Optional[str] = ..., num_ws: _Optional[int] = ..., latent_dim: _Optional[int] = ..., device: _Optional[str] = ..., edits: _Optional[_Iterable[_Union[EditInfo, _Mapping]]] = ..., preview_resolutions: _Optional[_Iterable[int]] = ..., max_batch: _Optional[int] = ..., version: _Optional[str] = ..., alignment: _Optional[str] = ..., students: _Optional[_Iterable[_Union[StudentInfo, _Mapping]]] = ..., sketch: _Optional[bool] = ...) -> None: ...

class StudentInfo(_message.Message):
    __slots__ = ("name", "edit", "mode", "min", "max", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EDIT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    edit: str
    mode: str
    min: float
    max: float
    description: str
    def __init__(self, name: _Optional[str] = ..., edit: _Optional[str] = ..., mode: _Optional[str] = ..., min: _Optional[float] = ..., max: _Optional[float] = ..., description: _Optional[str] = ...) -> None: ...

class InvertOptions(_message.Message):
    __slots__ = ("refine_steps", "refine_lr", "include_reconstruction", "quality", "pivotal_steps")
    class Quality(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        QUALITY_DEFAULT: _ClassVar[InvertOptions.Quality]
        QUALITY_ENCODER: _ClassVar[InvertOptions.Quality]
        QUALITY_REFINE: _ClassVar[InvertOptions.Quality]
        QUALITY_PIVOTAL: _ClassVar[InvertOptions.Quality]
    QUALITY_DEFAULT: InvertOptions.Quality
    QUALITY_ENCODER: InvertOptions.Quality
    QUALITY_REFINE: InvertOptions.Quality
    QUALITY_PIVOTAL: InvertOptions.Quality
    REFINE_STEPS_FIELD_NUMBER: _ClassVar[int]
    REFINE_LR_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_RECONSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    PIVOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    refine_steps: int
    refine_lr: float
    include_reconstruction: bool
    quality: InvertOptions.Quality
    pivotal_steps: int
    def __init__(self, refine_steps: _Optional[int] = ..., refine_lr: _Optional[float] = ..., include_reconstruction: _Optional[bool] = ..., quality: _Optional[_Union[InvertOptions.Quality, str]] = ..., pivotal_steps: _Optional[int] = ...) -> None: ...

class InvertRequest(_message.Message):
    __slots__ = ("faces", "options", "output_dtype")
    FACES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DTYPE_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[Image]
    options: InvertOptions
    output_dtype: DType
    def __init__(self, faces: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., options: _Optional[_Union[InvertOptions, _Mapping]] = ..., output_dtype: _Optional[_Union[DType, str]] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("stage", "done", "total", "loss")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    done: int
    total: int
    loss: float
    def __init__(self, stage: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., loss: _Optional[float] = ...) -> None: ...

class InvertedFace(_message.Message):
    __slots__ = ("handle", "latent", "reconstruction")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    LATENT_FIELD_NUMBER: _ClassVar[int]
    RECONSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    handle: str
    latent: Latent
    reconstruction: Image
    def __init__(self, handle: _Optional[str] = ..., latent: _Optional[_Union[Latent, _Mapping]] = ..., reconstruction: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class InvertResult(_message.Message):
    __slots__ = ("faces",)
    FACES_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[InvertedFace]
    def __init__(self, faces: _Optional[_Iterable[_Union[InvertedFace, _Mapping]]] = ...) -> None: ...

class InvertEvent(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    result: InvertResult
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., result: _Optional[_Union[InvertResult, _Mapping]] = ...) -> None: ...

class LatentRef(_message.Message):
    __slots__ = ("handle", "latent")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    LATENT_FIELD_NUMBER: _ClassVar[int]
    handle: str
    latent: Latent
    def __init__(self, handle: _Optional[str] = ..., latent: _Optional[_Union[Latent, _Mapping]] = ...) -> None: ...

class RenderRequest(_message.Message):
    __slots__ = ("faces", "edits", "resolution", "output_dtype", "include_reconstruction")
    FACES_FIELD_NUMBER: _ClassVar[int]
    EDITS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DTYPE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_RECONSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[LatentRef]
    edits: _containers.RepeatedCompositeFieldContainer[EditSpec]
    resolution: int
    output_dtype: DType
    include_reconstruction: bool
    def __init__(self, faces: _Optional[_Iterable[_Union[LatentRef, _Mapping]]] = ..., edits: _Optional[_Iterable[_Union[EditSpec, _Mapping]]] = ..., resolution: _Optional[int] = ..., output_dtype: _Optional[_Union[DType, str]] = ..., include_reconstruction: _Optional[bool] = ...) -> None: ...

class RenderResponse(_message.Message):
    __slots__ = ("images", "reconstructions", "short_edits")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    RECONSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    SHORT_EDITS_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[Image]
    reconstructions: _containers.RepeatedCompositeFieldContainer[Image]
    short_edits: _containers.RepeatedCompositeFieldContainer[ShortEdits]
    def __init__(self, images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., reconstructions: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., short_edits: _Optional[_Iterable[_Union[ShortEdits, _Mapping]]] = ...) -> None: ...

class EditRequest(_message.Message):
    __slots__ = ("faces", "options", "edits", "resolution", "output_dtype")
    FACES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    EDITS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DTYPE_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[Image]
    options: InvertOptions
    edits: _containers.RepeatedCompositeFieldContainer[EditSpec]
    resolution: int
    output_dtype: DType
    def __init__(self, faces: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., options: _Optional[_Union[InvertOptions, _Mapping]] = ..., edits: _Optional[_Iterable[_Union[EditSpec, _Mapping]]] = ..., resolution: _Optional[int] = ..., output_dtype: _Optional[_Union[DType, str]] = ...) -> None: ...

class EditedFace(_message.Message):
    __slots__ = ("handle", "latent", "image", "reconstruction", "short_edits")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    LATENT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    RECONSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    SHORT_EDITS_FIELD_NUMBER: _ClassVar[int]
    handle: str
    latent: Latent
    image: Image
    reconstruction: Image
    short_edits: _containers.RepeatedCompositeFieldContainer[ShortEdit]
    def __init__(self, handle: _Optional[str] = ..., latent: _Optional[_Union[Latent, _Mapping]] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., reconstruction: _Optional[_Union[Image, _Mapping]] = ..., short_edits: _Optional[_Iterable[_Union[ShortEdit, _Mapping]]] = ...) -> None: ...

class ShortEdit(_message.Message):
    __slots__ = ("name", "mode", "goal", "reached")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    REACHED_FIELD_NUMBER: _ClassVar[int]
    name: str
    mode: EditSpec.Mode
    goal: float
    reached: float
    def __init__(self, name: _Optional[str] = ..., mode: _Optional[_Union[EditSpec.Mode, str]] = ..., goal: _Optional[float] = ..., reached: _Optional[float] = ...) -> None: ...

class ShortEdits(_message.Message):
    __slots__ = ("edits",)
    EDITS_FIELD_NUMBER: _ClassVar[int]
    edits: _containers.RepeatedCompositeFieldContainer[ShortEdit]
    def __init__(self, edits: _Optional[_Iterable[_Union[ShortEdit, _Mapping]]] = ...) -> None: ...

class EditResult(_message.Message):
    __slots__ = ("faces",)
    FACES_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[EditedFace]
    def __init__(self, faces: _Optional[_Iterable[_Union[EditedFace, _Mapping]]] = ...) -> None: ...

class EditEvent(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    result: EditResult
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., result: _Optional[_Union[EditResult, _Mapping]] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("seeds", "truncation", "edits", "resolution", "output_dtype")
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATION_FIELD_NUMBER: _ClassVar[int]
    EDITS_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DTYPE_FIELD_NUMBER: _ClassVar[int]
    seeds: _containers.RepeatedScalarFieldContainer[int]
    truncation: float
    edits: _containers.RepeatedCompositeFieldContainer[EditSpec]
    resolution: int
    output_dtype: DType
    def __init__(self, seeds: _Optional[_Iterable[int]] = ..., truncation: _Optional[float] = ..., edits: _Optional[_Iterable[_Union[EditSpec, _Mapping]]] = ..., resolution: _Optional[int] = ..., output_dtype: _Optional[_Union[DType, str]] = ...) -> None: ...

class GeneratedFace(_message.Message):
    __slots__ = ("seed", "handle", "latent", "image", "short_edits")
    SEED_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    LATENT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    SHORT_EDITS_FIELD_NUMBER: _ClassVar[int]
    seed: int
    handle: str
    latent: Latent
    image: Image
    short_edits: _containers.RepeatedCompositeFieldContainer[ShortEdit]
    def __init__(self, seed: _Optional[int] = ..., handle: _Optional[str] = ..., latent: _Optional[_Union[Latent, _Mapping]] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., short_edits: _Optional[_Iterable[_Union[ShortEdit, _Mapping]]] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("faces",)
    FACES_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[GeneratedFace]
    def __init__(self, faces: _Optional[_Iterable[_Union[GeneratedFace, _Mapping]]] = ...) -> None: ...

class TranslateRequest(_message.Message):
    __slots__ = ("faces", "edits", "output_dtype")
    FACES_FIELD_NUMBER: _ClassVar[int]
    EDITS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DTYPE_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[Image]
    edits: _containers.RepeatedCompositeFieldContainer[EditSpec]
    output_dtype: DType
    def __init__(self, faces: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., edits: _Optional[_Iterable[_Union[EditSpec, _Mapping]]] = ..., output_dtype: _Optional[_Union[DType, str]] = ...) -> None: ...

class TranslateResponse(_message.Message):
    __slots__ = ("images",)
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[Image]
    def __init__(self, images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ...) -> None: ...

class FromSketchRequest(_message.Message):
    __slots__ = ("drawings", "follow", "edits", "output_dtype", "seed")
    DRAWINGS_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    EDITS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DTYPE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    drawings: _containers.RepeatedCompositeFieldContainer[Image]
    follow: float
    edits: _containers.RepeatedCompositeFieldContainer[EditSpec]
    output_dtype: DType
    seed: int
    def __init__(self, drawings: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., follow: _Optional[float] = ..., edits: _Optional[_Iterable[_Union[EditSpec, _Mapping]]] = ..., output_dtype: _Optional[_Union[DType, str]] = ..., seed: _Optional[int] = ...) -> None: ...

class SketchResult(_message.Message):
    __slots__ = ("faces",)
    FACES_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[EditedFace]
    def __init__(self, faces: _Optional[_Iterable[_Union[EditedFace, _Mapping]]] = ...) -> None: ...

class SketchEvent(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    result: SketchResult
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., result: _Optional[_Union[SketchResult, _Mapping]] = ...) -> None: ...
