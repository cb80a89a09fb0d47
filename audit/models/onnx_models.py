"""Adapter for ONNX models, run by onnxruntime (the optional extra ``rai-audit[onnx]``).

The graph says what it reads and returns, so the adapter takes both from it: one float matrix
input (its width the last dimension, when static), or one ``[N, 1]`` input per table column,
named after the column (skl2onnx's conversion of a pipeline fitted on a DataFrame), which the
audit feeds through ``FrameCodec`` like a scikit-learn pipeline. Of the outputs it reads the
scores: a ZipMap (skl2onnx's default, a sequence of ``{label: probability}`` maps) or a float
tensor (skl2onnx with ``{"zipmap": False}``, or ``torch.onnx.export``'s logits), never the
label. The feature metadata of a TorchScript file travels as a metadata prop under the same key
(``rai_audit.json``, docs/model-formats.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from audit.core.errors import ModelError
from audit.models.base import LoadedModel
from audit.models.features import METADATA_FILE, parse_metadata
from audit.models.frame_input import FrameCodec

# The input element types the audit can feed, as numpy dtypes; strings only to a column input.
_INPUT_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(string)": np.str_,
}
_SCORE_TYPES = ("tensor(float)", "tensor(double)", "tensor(float16)")
# The packages that run an ONNX model (LoadedModel.runtime).
ONNX_RUNTIME = ("onnxruntime",)
_EXPORT_HINT = "export it with a dynamic batch dimension (torch.onnx.export(..., dynamic_axes=...))"


def _onnxruntime(path: Path) -> ModuleType:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelError(
            f"{path}: ONNX models run on onnxruntime, which is not installed; "
            'pip install "rai-audit[onnx]"'
        ) from exc
    return onnxruntime


def _providers(device: str, available: Sequence[str]) -> list[Any]:
    """The execution provider for ``--device``: the CPU, or CUDA where onnxruntime has it."""
    kind, _, index = device.partition(":")
    if kind == "cpu" and not index:
        return ["CPUExecutionProvider"]
    if kind == "cuda" and (not index or index.isdigit()):
        if "CUDAExecutionProvider" not in available:
            raise ModelError(
                f"--device {device!r}: this onnxruntime has no CUDAExecutionProvider (it has "
                f"{', '.join(available)}); install onnxruntime-gpu instead of onnxruntime, or "
                "use --device cpu"
            )
        return [("CUDAExecutionProvider", {"device_id": int(index or 0)})]
    raise ModelError(f"--device {device!r} is not a device onnxruntime runs on; use cpu or cuda")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def onnx_session(path: Path, device: str) -> Any:
    ort = _onnxruntime(path)
    providers = _providers(device, ort.get_available_providers())
    options = ort.SessionOptions()
    # onnxruntime logs its own warnings (unused initializers, fallbacks) to stderr: the CLI
    # prints one line per error and nothing else there.
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
        if type(exc).__name__ == "InvalidProtobuf":
            raise ModelError(
                f"{path}: not an ONNX model; onnxruntime cannot parse it ({_first_line(exc)}); "
                "export the model with torch.onnx.export or skl2onnx"
            ) from exc
        raise ModelError(
            f"{path}: onnxruntime cannot load this ONNX model ({_first_line(exc)}); fix the "
            "export (onnx.checker.check_model says what is wrong)"
        ) from exc
    wanted = providers[0] if isinstance(providers[0], str) else providers[0][0]
    if session.get_providers()[0] != wanted:
        # onnxruntime falls back to the CPU when CUDA cannot start (no driver, no device).
        raise ModelError(
            f"--device {device!r}: onnxruntime could not start {wanted} here (it runs on "
            f"{', '.join(session.get_providers())}); check the CUDA install, or use --device cpu"
        )
    return session


def _shape(node: Any) -> str:
    return "[" + ", ".join("N" if not isinstance(d, int) else str(d) for d in node.shape) + "]"


def _input_type(path: Path, node: Any) -> Any:
    dtype = _INPUT_TYPES.get(node.type)
    if dtype is None:
        raise ModelError(
            f"{path}: input {node.name!r} is {node.type}, which the audit cannot feed from a "
            "table; export the model with float inputs"
        )
    if not node.shape or isinstance(node.shape[0], int):
        raise ModelError(
            f"{path}: input {node.name!r} has the fixed shape {_shape(node)}, not a batch of rows; "
            f"{_EXPORT_HINT}"
        )
    return dtype


def _is_column_input(node: Any) -> bool:
    """An input of one value per row: ``[N]`` or ``[N, 1]``."""
    return len(node.shape) == 1 or (len(node.shape) == 2 and node.shape[1] == 1)


def score_output(path: Path, outputs: Sequence[Any]) -> tuple[Any, bool]:
    """The output that holds the class scores, and whether it is a ZipMap."""
    maps = [node for node in outputs if node.type.startswith("seq(map(")]
    if maps:
        return maps[0], True
    tensors = [node for node in outputs if node.type in _SCORE_TYPES]
    if len(tensors) > 1:
        tensors = [node for node in tensors if "prob" in node.name.lower()] or tensors
    if len(tensors) == 1:
        return tensors[0], False
    listed = ", ".join(f"{node.name} ({node.type})" for node in outputs)
    raise ModelError(
        f"{path}: cannot tell which output holds the class scores (outputs: {listed}); export "
        "one float output of probabilities or logits"
    )


class GraphColumns(FrameCodec):
    """The table columns a graph's inputs are named after.

    skl2onnx names each input after its column made a C identifier (``re.sub(r"[^\\w+]", "_",
    name)``, with ``_`` before a leading digit): ``hours-per-week`` becomes ``hours_per_week``.
    An input that names no column is matched, on the first frame, to the column written so.
    """

    def encode(self, frame: pd.DataFrame, source: Path) -> np.ndarray:
        if not set(self.columns) <= set(frame.columns):
            written = {_identifier(str(column)): str(column) for column in frame.columns}
            self.columns = tuple(
                name if name in frame.columns else written.get(name, name) for name in self.columns
            )
        return super().encode(frame, source)


def _identifier(column: str) -> str:
    name = re.sub(r"[^\w+]", "_", column)
    return f"_{name}" if re.match("[0-9]", name) else name


class OnnxAdapter:
    """An onnxruntime session fed the batch as one matrix, or as one input per column
    (decoded from the batch by ``frame``)."""

    def __init__(
        self,
        session: Any,
        inputs: Sequence[Any],
        output: Any,
        zipmap: bool,
        frame: FrameCodec | None,
    ) -> None:
        self._session = session
        self._inputs = [(node.name, _INPUT_TYPES[node.type], len(node.shape)) for node in inputs]
        self._output = output.name
        self._zipmap = zipmap
        self._frame = frame

    def _feeds(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if self._frame is None:
            name, dtype, rank = self._inputs[0]
            values = np.ascontiguousarray(batch, dtype=dtype)
            return {name: values[:, 0] if rank == 1 else values}
        frame: pd.DataFrame = self._frame.decode(batch)
        feeds = {}
        for position, (name, dtype, rank) in enumerate(self._inputs):
            column = frame.iloc[:, position]  # the input's table column (GraphColumns)
            values = (
                column.astype(str).to_numpy(dtype=object)
                if dtype is np.str_
                else column.to_numpy(dtype=dtype)
            )
            feeds[name] = values if rank == 1 else values.reshape(-1, 1)
        return feeds

    def run(self, batch: np.ndarray) -> Any:
        (output,) = self._session.run([self._output], self._feeds(batch))
        return output

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        output = self.run(batch)
        if self._zipmap:
            # Each row is a {label: probability} map, its keys in the classifier's class order.
            return np.array([list(row.values()) for row in output], dtype=np.float64)
        return np.asarray(output, dtype=np.float64)


def _zipmap_labels(adapter: OnnxAdapter, width: int | None) -> tuple[str, ...] | None:
    """The class labels a ZipMap output names, read from its maps on one row of zeros.

    onnxruntime does not show the graph's nodes (the onnx package would, as a second
    dependency), so the keys are read where the runtime shows them: in the output. Without a
    known width there is no row to run; the scores are then read in the target's sorted label
    order, as for any model without class labels (which is skl2onnx's order for scikit-learn
    classes), and the report notes it.
    """
    if width is None:
        return None
    try:
        rows = adapter.run(np.zeros((1, width), dtype=np.float32))
    except Exception:  # a model that rejects zeros still runs on real rows; its labels stay unknown
        return None
    return tuple(str(key) for key in rows[0]) if rows else None


def load_onnx(path: Path, device: str) -> LoadedModel:
    session = onnx_session(path, device)
    inputs = session.get_inputs()
    dtypes = [_input_type(path, node) for node in inputs]
    frame: FrameCodec | None = None
    if len(inputs) == 1 and dtypes[0] is not np.str_:
        last = inputs[0].shape[-1]
        if len(inputs[0].shape) > 2:
            raise ModelError(
                f"{path}: input {inputs[0].name!r} has the shape {_shape(inputs[0])}; a tabular "
                "model takes rows of features, [N, features]"
            )
        width = 1 if len(inputs[0].shape) == 1 else last if isinstance(last, int) else None
    elif all(_is_column_input(node) for node in inputs):
        # One input per table column, named after it: the audit feeds the raw columns by name.
        frame = GraphColumns([node.name for node in inputs])
        width = len(inputs)
    else:
        listed = ", ".join(f"{node.name} {_shape(node)}" for node in inputs)
        raise ModelError(
            f"{path}: the graph has {len(inputs)} inputs ({listed}) and the audit can feed one "
            "feature matrix [N, features] or one [N, 1] input per table column, named after it; "
            "export the model with one of those"
        )
    output, zipmap = score_output(path, session.get_outputs())
    metadata_text = session.get_modelmeta().custom_metadata_map.get(METADATA_FILE) or None
    metadata = parse_metadata(metadata_text, path) if metadata_text else None
    if metadata is not None and frame is None and width is not None and metadata.width != width:
        raise ModelError(
            f"{path}: its {METADATA_FILE} describes {metadata.width} input features but the "
            f"graph's input {inputs[0].name!r} takes {width}; fix the metadata prop"
        )
    adapter = OnnxAdapter(session, inputs, output, zipmap, frame)
    labels = None
    if zipmap:
        probe_width = width if width is not None or metadata is None else metadata.width
        labels = _zipmap_labels(adapter, probe_width)
    named = tuple(metadata.class_labels) if metadata and metadata.class_labels else None
    if labels and named and named != labels:
        raise ModelError(
            f"{path}: its {METADATA_FILE} names the classes {', '.join(named)} but the graph's "
            f"output {output.name!r} names {', '.join(labels)}; fix the metadata prop's "
            "class_labels"
        )
    # Without a ZipMap the class labels come from the metadata prop (audit.models.inference);
    # the label output's type alone does not say which classes there are or in which order.
    provider = session.get_providers()[0]
    return LoadedModel(
        adapter=adapter,
        kind="onnx",
        trusted=False,
        input_width=width,
        class_labels=labels,
        metadata_text=metadata_text,
        notes=(f"onnxruntime {provider}, output {output.name!r}",),
        frame_input=frame,
        runtime=ONNX_RUNTIME,
    )
