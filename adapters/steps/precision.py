"""Mixed precision shared by every training step: autocast, the backward pass and the update.

``amp`` is False (full precision), True (the device's default autocast dtype) or a dtype name:
- ``"fp16"``: CUDA only, with a GradScaler that guards float16 gradients against underflow; the
  default on CUDA because every CUDA GPU with tensor cores runs it;
- ``"bf16"``: bfloat16 has float32's range, so no scaler; the default on CPU (it pays off only where
  the CPU has bf16 instructions, which is why a profile's ``amp = "auto"`` leaves it off there) and
  the better choice on Ampere or newer GPUs.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch

from reidkit.domain.errors import ReidkitError

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_dtype(device: torch.device, amp: bool | str) -> torch.dtype | None:
    """The dtype ``amp`` asks for on ``device``; None for full precision."""
    if amp is False or amp == "off":
        return None
    if amp is True or amp in ("on", "auto"):
        return torch.float16 if device.type == "cuda" else torch.bfloat16
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp must be a bool, 'off', 'on', 'auto' or one of {sorted(AMP_DTYPES)}, got {amp!r}")
    if amp == "fp16" and device.type != "cuda":
        raise ReidkitError(f"amp dtype 'fp16' needs a CUDA device, this run is on {device.type}; use 'bf16' or amp off")
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        name = torch.cuda.get_device_name(device)
        raise ReidkitError(f"amp dtype 'bf16' is not supported by {name} (needs Ampere or newer); use 'fp16'")
    return AMP_DTYPES[amp]


def amp_choice(amp: str, dtype: str, device: torch.device) -> bool | str:
    """What a run's ``train.amp`` ("on", "off", "auto" = on for CUDA) and ``train.amp_dtype``
    ("auto" = the device's default) ask of ``Precision``: False, True or a dtype name."""
    if amp not in ("on", "off", "auto"):
        raise ValueError(f"amp must be 'on', 'off' or 'auto', got {amp!r}")
    enabled = amp == "on" or (amp == "auto" and torch.device(device).type == "cuda")
    return enabled and (dtype if dtype != "auto" else True)


def cpu_has_native_bf16() -> bool:
    """Whether bf16 autocast is worth turning on by default on this CPU: AVX512-BF16 in hardware
    (where it trains ResNets about twice as fast as float32) and no AMX tiles.

    AMX is left out on purpose. On the development machine (a virtualised Xeon with AMX), oneDNN's
    AMX kernels returned NaN losses in 5 of 6 short bf16 runs of ResNet-18 (never in float32,
    never with oneDNN capped at AVX512_CORE_BF16, where bf16 was then slower than float32:
    docs/doctor.md), so an automatic choice there would trade correctness for speed. A user who
    trusts their AMX can still ask for bf16 explicitly (``train.amp = "on"``)."""
    cpu = torch.cpu
    avx512_bf16 = getattr(cpu, "_is_avx512_bf16_supported", None)
    amx = getattr(cpu, "_is_amx_tile_supported", None)
    return avx512_bf16 is not None and avx512_bf16() and not (amx is not None and amx())


class Precision:
    def __init__(self, device: torch.device, amp: bool | str) -> None:
        self.device = torch.device(device)
        dtype = autocast_dtype(self.device, amp)
        self.amp = dtype is not None
        self.dtype = dtype or torch.float32
        on_cuda = self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 and on_cuda else None

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(device_type=self.device.type, dtype=self.dtype, enabled=self.amp)

    def backward_and_step(self, total: torch.Tensor, optimizer: torch.optim.Optimizer, *, apply: bool = True) -> None:
        """Backward, then the optimiser step unless ``apply`` is False (a non-finite loss). The
        backward pass runs either way, so that DDP's gradient all-reduce happens on every rank;
        the grad scaler's state is left as it was for a skipped step."""
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            if apply:
                self.scaler.step(optimizer)
                self.scaler.update()
        else:
            total.backward()
            if apply:
                optimizer.step()
        if not apply:
            optimizer.zero_grad(set_to_none=True)

    def state_dict(self) -> dict:
        return {"scaler": self.scaler.state_dict()} if self.scaler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        # A scaler's state is only meaningful on CUDA; resuming a GPU run on CPU drops it.
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])

