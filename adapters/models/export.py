"""A trained network as a file other runtimes load: ONNX (dynamic batch size), TorchScript, or
safetensors weights; and the same network's outputs read back from each file, for a parity check.

The network is exported as the run evaluates it: an (N, 3, H, W) batch after the test transform in,
the (N, D) features before any L2 normalisation out. Fold domain-specific BN first (``fold_dsbn``):
an exported graph has no domain router.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reidkit.domain.errors import ReidkitError

FORMATS = ("onnx", "torchscript", "safetensors")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "safetensors": ".safetensors"}
INPUT_NAME, OUTPUT_NAME = "images", "features"


def export_network(model: nn.Module, example: torch.Tensor, path: Path, fmt: str, metadata: Mapping[str, str]) -> None:
    """Writes ``model`` (eval mode, on the CPU) to ``path`` in ``fmt``; ``example`` is a batch it
    is traced with (ONNX keeps the batch dimension free)."""
    model = model.eval().cpu()
    if fmt == "onnx":
        _require("onnxscript", "ONNX export")
        # torch.export's exporter (the legacy TorchScript one is deprecated); the batch dimension
        # stays free, so one file serves any batch size
        torch.onnx.export(
            model,
            (example.cpu(),),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            opset_version=18,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    elif fmt == "torchscript":
        # TorchScript is deprecated in favour of torch.export, but it is still what C++ and
        # mobile deployments of re-ID models load; its warnings say nothing the user can act on
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", DeprecationWarning)
            traced = torch.jit.trace(model, example.cpu(), check_trace=False)
            torch.jit.save(traced, str(path), _extra_files={f"reidkit/{k}": v for k, v in metadata.items()})
    elif fmt == "safetensors":
        from safetensors.torch import save_file

        state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
        save_file(state, str(path), metadata=dict(metadata))
    else:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def exported_outputs(path: Path, fmt: str, batch: torch.Tensor, rebuild: nn.Module | None = None) -> np.ndarray:
    """The features the file at ``path`` gives for ``batch``: through onnxruntime, the TorchScript
    loader, or (safetensors) ``rebuild``, a freshly built network of the same architecture that the
    weights are loaded into strictly."""
    if fmt == "onnx":
        _require("onnxruntime", "the ONNX parity check")
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run([OUTPUT_NAME], {INPUT_NAME: batch.cpu().numpy()})[0]
    if fmt == "torchscript":
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu")(batch.cpu()).numpy()
    if fmt == "safetensors":
        from safetensors.torch import load_file

        if rebuild is None:
            raise ValueError("a safetensors parity check needs the rebuilt network")
        rebuild.load_state_dict(load_file(str(path)), strict=True)
        with torch.no_grad():
            return rebuild.eval().cpu()(batch.cpu()).numpy()
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def _require(module: str, purpose: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise ReidkitError(f"{purpose} needs the {module} package: pip install 'reidkit[export]'") from None
