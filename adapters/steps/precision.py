"""Mixed precision shared by every training step: autocast, the backward pass and the update.

``amp`` autocasts to bfloat16 on CPU and to float16 on CUDA, where a GradScaler guards the
float16 gradients against underflow (bfloat16 has float32's range and needs none).
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch


class Precision:
    def __init__(self, device: torch.device, amp: bool) -> None:
        self.device = device
        self.amp = bool(amp)
        on_cuda = device.type == "cuda"
        self.dtype = torch.float16 if on_cuda else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda") if self.amp and on_cuda else None

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(device_type=self.device.type, dtype=self.dtype, enabled=self.amp)

    def backward_and_step(self, total: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            total.backward()
            optimizer.step()

    def state_dict(self) -> dict:
        return {"scaler": self.scaler.state_dict()} if self.scaler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        # A scaler's state is only meaningful on CUDA; resuming a GPU run on CPU drops it.
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])


def step_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: object, precision: Precision) -> dict:
    """What a training step checkpoints: model, optimiser, schedule (if any) and grad scaler."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    state.update(precision.state_dict())
    return state


def load_step_state(
    owner: str, state: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: object,
    precision: Precision,
) -> None:
    missing = [k for k in ("model", "optimizer") if k not in state]
    if scheduler is not None and "scheduler" not in state:
        missing.append("scheduler")
    if missing:
        raise KeyError(f"{owner} state lacks {', '.join(missing)}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    precision.load_state_dict(state)
