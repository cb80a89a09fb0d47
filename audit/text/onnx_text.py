"""Text models as ONNX graphs: the ``rai-audit/text-v1`` format of docs/text-models.md, its
files carried as metadata props under their names (``rai_audit_text.json``,
``rai_audit_vocab.txt``) instead of TorchScript extra files.

The graph takes what a TorchScript text model's ``forward`` takes, ``(ids, lengths)`` or
``(ids, mask)``, and the session is wrapped as a torch module, so that the text adapter, its
probes and its attributions run it as they run TorchScript. No gradient flows through
onnxruntime: token attributions use feature ablation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from audit.core.errors import ModelError
from audit.models.onnx_models import onnx_session, score_output
from audit.text.model_format import DOCS, TEXT_METADATA_FILE, VOCAB_FILE


class OnnxTextModule(torch.nn.Module):
    """An onnxruntime session called as ``module(ids, lengths_or_mask)``."""

    def __init__(self, session: Any, output: str) -> None:
        super().__init__()
        self._session = session
        self._inputs = [node.name for node in session.get_inputs()]
        self._output = output

    def forward(self, ids: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        feeds = {
            self._inputs[0]: ids.detach().cpu().numpy(),
            self._inputs[1]: second.detach().cpu().numpy(),
        }
        (output,) = self._session.run([self._output], feeds)
        return torch.from_numpy(np.asarray(output, dtype=np.float32)).to(ids.device)


def load_onnx_text(path: Path, device: str) -> tuple[OnnxTextModule, dict[str, str], str]:
    """The graph as a module, its text-v1 metadata props, and a note naming the provider."""
    session = onnx_session(path, device)
    inputs = session.get_inputs()
    if len(inputs) != 2:
        listed = ", ".join(node.name for node in inputs)
        raise ModelError(
            f"{path}: a text model's graph takes two inputs, token ids and lengths (or a "
            f"mask), but this one takes {len(inputs)} ({listed}); see {DOCS}"
        )
    output, zipmap = score_output(path, session.get_outputs())
    if zipmap:
        raise ModelError(
            f"{path}: a text model returns a tensor of class scores, not a ZipMap; see {DOCS}"
        )
    props = session.get_modelmeta().custom_metadata_map
    files = {name: props.get(name, "") for name in (TEXT_METADATA_FILE, VOCAB_FILE)}
    note = f"onnxruntime {session.get_providers()[0]}, output {output.name!r}"
    return OnnxTextModule(session, output.name), files, note
