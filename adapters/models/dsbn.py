"""Domain-specific batch normalisation (DSBN) for unsupervised domain adaptation.

Source and target images have different feature statistics; one shared BatchNorm normalises both
with a blend of the two. DSBN (Chang et al., CVPR 2019) gives every domain its own BatchNorm
(affine parameters and running statistics) while all other weights stay shared::

    router = convert_dsbn(model, num_domains=2, target_domain=1)   # source 0, target 1
    model.train()
    with domains(model, batch_domain_ids):       # one int per sample, any order
        out = model(images)
    model.eval()                                  # eval uses the target's BN (router.eval_domain)
    export_model(path, fold_dsbn(model))          # a plain model's state dict, target BN folded in

Differences from OpenUnReID/SpCL's DSBN: the domain of each sample is given explicitly, so a batch
may interleave domains in any order and in any proportion (upstream splits the batch into
``num_domains`` equal contiguous chunks); and :func:`fold_dsbn` turns a DSBN model back into the
plain architecture (upstream's export raises AttributeError).

The routing is computed once per batch in the shared :class:`DomainRouter` (one host sync), not
in every layer. ``nn.DataParallel`` is not supported: its replicas see slices of the batch while
the router holds the whole batch's ids, which the length check reports. DDP is fine (each
process routes its own batch).
"""

from __future__ import annotations

import copy
import operator
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DomainRouter",
    "DomainSpecificBatchNorm",
    "convert_dsbn",
    "domains",
    "fold_dsbn",
    "has_dsbn",
    "set_eval_domain",
]

ROUTER_ATTRIBUTE = "domain_router"
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _domain_index(value: object, num_domains: int, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an int in [0, {num_domains}), got {value!r}")
    try:
        index = operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be an int in [0, {num_domains}), got {value!r}") from None
    if not 0 <= index < num_domains:
        raise ValueError(f"{what} must be in [0, {num_domains}), got {index}")
    return index


class _Plan:
    """How one batch splits into domains: sizes per domain, and the permutation that groups the
    batch by domain (None when it already is grouped) with its inverse."""

    def __init__(self, domain_ids: torch.Tensor, num_domains: int) -> None:
        ids = domain_ids.detach().to("cpu", torch.long)
        self.batch_size = int(ids.numel())
        self.counts: list[int] = torch.bincount(ids, minlength=num_domains).tolist()
        grouped = self.batch_size < 2 or bool((ids[1:] >= ids[:-1]).all())
        if grouped:
            self._order = self._inverse = None
        else:
            order = torch.argsort(ids, stable=True)
            self._order, self._inverse = order, torch.argsort(order)
        self._on_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def permutation(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self._order is None:
            return None
        if device not in self._on_device:
            self._on_device[device] = (self._order.to(device), self._inverse.to(device))
        return self._on_device[device]


class DomainRouter:
    """Tells every DSBN layer of one model which domain each sample of the current batch is from.

    ``domains`` holds the per-sample int domain ids of the current train batch (None outside
    :func:`domains`); setting it validates the ids and computes the routing once for all layers.
    ``eval_domain`` picks the BatchNorm that eval mode uses (the target domain's). Not a Module:
    it is no part of the state dict, and ``copy.deepcopy`` of a model gives the copy its own router
    shared by all of the copy's layers.
    """

    def __init__(self, num_domains: int, eval_domain: int) -> None:
        if isinstance(num_domains, bool) or not isinstance(num_domains, int) or num_domains < 2:
            raise ValueError(f"num_domains must be an int >= 2, got {num_domains!r}")
        self.num_domains = num_domains
        self.eval_domain = eval_domain
        self._domains: torch.Tensor | None = None
        self._plan: _Plan | None = None

    @property
    def eval_domain(self) -> int:
        return self._eval_domain

    @eval_domain.setter
    def eval_domain(self, value: int) -> None:
        self._eval_domain = _domain_index(value, self.num_domains, "eval domain")

    @property
    def domains(self) -> torch.Tensor | None:
        return self._domains

    @domains.setter
    def domains(self, value: torch.Tensor | Sequence[int] | None) -> None:
        if value is None:
            self._domains, self._plan = None, None
            return
        ids = value if isinstance(value, torch.Tensor) else torch.as_tensor(value)
        if ids.dim() != 1:
            raise ValueError(f"domain ids must be a 1-D tensor (one id per sample), got shape {tuple(ids.shape)}")
        if ids.numel() and (ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool):
            raise ValueError(f"domain ids must be integers, got dtype {ids.dtype}")
        ids = ids.long()
        if ids.numel():
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= self.num_domains:
                raise ValueError(
                    f"domain ids must be in [0, {self.num_domains}), got values from {low} to {high}"
                )
        self._domains, self._plan = ids, _Plan(ids, self.num_domains)

    def plan(self, batch_size: int) -> _Plan:
        """The current batch's routing; ValueError when no ids were given or they do not fit."""
        if self._plan is None:
            raise ValueError(
                "DSBN model in train mode without domain ids: wrap the forward pass in "
                "`with domains(model, domain_ids): ...` (one domain id per sample)"
            )
        if self._plan.batch_size != batch_size:
            raise ValueError(
                f"DSBN got a batch of {batch_size} samples but {self._plan.batch_size} domain ids "
                "(nn.DataParallel splits the batch and is not supported)"
            )
        return self._plan

    def __repr__(self) -> str:
        current = "None" if self._domains is None else f"<{self._domains.numel()} ids>"
        return f"DomainRouter(num_domains={self.num_domains}, eval_domain={self.eval_domain}, domains={current})"


class DomainSpecificBatchNorm(nn.Module):
    """One BatchNorm per domain, chosen per sample by a shared :class:`DomainRouter`.

    Every domain's BN starts as a deep copy of ``batchnorm`` (weights, running statistics and
    requires_grad flags, so e.g. a BNNeck's frozen bias stays frozen in every domain).

    Train mode: the samples of each domain, wherever they sit in the batch, go through that
    domain's BN, so its running statistics only ever see its own domain and the gradient reaches
    the parameters of every domain present; outputs come back in the batch's order. A domain
    absent from the batch is left untouched. Eval mode: the router's ``eval_domain`` BN.

    A domain with a single sample and no spatial extent (e.g. one image of a domain at a
    BatchNorm1d neck) has no batch statistics; torch's BatchNorm raises for that. Rather than let
    one stray sample of an otherwise fine batch abort training, that sample is normalised with its
    domain's running statistics (as in eval mode; they are not updated) and a warning is issued;
    its domain's weight and bias still get gradients. A BN without running statistics
    (``track_running_stats=False``) cannot do that and raises ValueError.
    """

    def __init__(self, batchnorm: nn.BatchNorm1d | nn.BatchNorm2d, router: DomainRouter) -> None:
        super().__init__()
        if not isinstance(batchnorm, _BATCHNORMS):
            raise TypeError(f"DomainSpecificBatchNorm wraps BatchNorm1d/2d, got {type(batchnorm).__name__}")
        if not isinstance(router, DomainRouter):
            raise TypeError(f"router must be a DomainRouter, got {type(router).__name__}")
        self.bns = nn.ModuleList(copy.deepcopy(batchnorm) for _ in range(router.num_domains))
        self.train(batchnorm.training)
        # A plain attribute (DomainRouter is not a Module): not in state_dict, not a child.
        self.router = router

    @property
    def num_domains(self) -> int:
        return len(self.bns)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.bns[self.router.eval_domain](x)
        plan = self.router.plan(x.shape[0])
        present = [d for d, count in enumerate(plan.counts) if count]
        if len(present) == 1:
            return self._normalise(present[0], x)
        permutation = plan.permutation(x.device)
        grouped = x if permutation is None else x.index_select(0, permutation[0])
        chunks = grouped.split(plan.counts)
        out = torch.cat([self._normalise(d, chunks[d]) for d in present])
        return out if permutation is None else out.index_select(0, permutation[1])

    def _normalise(self, domain: int, x: torch.Tensor) -> torch.Tensor:
        bn = self.bns[domain]
        if not (bn.training and x.numel() and x.numel() == x.shape[1]):
            return bn(x)
        # One value per channel: no batch statistics exist (see the class docstring).
        if bn.running_mean is None or bn.running_var is None:
            raise ValueError(
                f"DSBN domain {domain} has a single sample in this batch and its BatchNorm keeps no "
                "running statistics to normalise it with; give every domain >= 2 samples per batch"
            )
        warnings.warn(
            f"DSBN: domain {domain} has a single sample in this train batch; it is normalised with "
            "that domain's running statistics, which it does not update",
            RuntimeWarning,
            stacklevel=2,
        )
        return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)

    def extra_repr(self) -> str:
        return f"num_domains={self.num_domains}, eval_domain={self.router.eval_domain}"


def _find_router(model: nn.Module) -> DomainRouter | None:
    router = getattr(model, ROUTER_ATTRIBUTE, None)
    if isinstance(router, DomainRouter):
        return router
    # A wrapper (e.g. DDP) around a converted model: the layers know their router.
    for module in model.modules():
        if isinstance(module, DomainSpecificBatchNorm):
            return module.router
    return None


def has_dsbn(model: nn.Module) -> bool:
    """Whether ``model`` (or the model it wraps) was converted by :func:`convert_dsbn`."""
    return _find_router(model) is not None


def convert_dsbn(model: nn.Module, num_domains: int = 2, target_domain: int = 1) -> DomainRouter:
    """Replaces every BatchNorm1d/2d inside ``model`` (in place) with a DomainSpecificBatchNorm.

    Every domain starts from the original BN's parameters and running statistics, so a
    source-pretrained model seeds all domains and its outputs are unchanged until training.
    ``target_domain`` is the BN eval mode uses. The returned router is also stored as
    ``model.domain_router``. Convert before building the optimizer (the BN parameters are new
    tensors). ValueError for a bad ``num_domains``/``target_domain``, a model without BatchNorm,
    a model that is itself a BatchNorm, or one already converted.
    """
    router = DomainRouter(num_domains, target_domain)
    if isinstance(model, _BATCHNORMS):
        raise ValueError("convert_dsbn cannot replace the model itself: wrap the BatchNorm in a module")
    if has_dsbn(model):
        raise ValueError("model already has domain-specific BatchNorm (convert_dsbn was called twice)")
    targets = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, _BATCHNORMS)
    ]
    if not targets:
        raise ValueError(f"{type(model).__name__} has no BatchNorm1d/BatchNorm2d layer to make domain-specific")
    replacements: dict[int, DomainSpecificBatchNorm] = {}  # a BN shared by two parents stays shared
    for parent, name, child in targets:
        if id(child) not in replacements:
            replacements[id(child)] = DomainSpecificBatchNorm(child, router)
        setattr(parent, name, replacements[id(child)])
    object.__setattr__(model, ROUTER_ATTRIBUTE, router)
    return router


@contextmanager
def domains(model: nn.Module, domain_ids: torch.Tensor | Sequence[int] | None) -> Iterator[None]:
    """Routes the forward passes inside the block by ``domain_ids`` (one int per sample).

    A no-op for a model without DSBN and for ``domain_ids=None``, so a training step may always
    call it. The previous ids are restored on exit (nesting is safe).
    """
    router = None if domain_ids is None else _find_router(model)
    if router is None:
        yield
        return
    previous = router.domains
    router.domains = domain_ids
    try:
        yield
    finally:
        router.domains = previous


def set_eval_domain(model: nn.Module, domain: int) -> None:
    """Makes eval mode use ``domain``'s BatchNorm (ValueError when out of range); a no-op for a
    model without DSBN."""
    router = _find_router(model)
    if router is not None:
        router.eval_domain = domain


def fold_dsbn(model: nn.Module, domain: int | None = None) -> nn.Module:
    """A deep copy of ``model`` with every DSBN replaced by a plain BatchNorm holding ``domain``'s
    parameters, running statistics, requires_grad flags and train/eval mode (default: the
    router's ``eval_domain``).

    The copy has the state-dict keys of the same architecture built without DSBN, so it exports
    with ``export_model`` and loads into a plain model with ``strict=True``. ``model`` is left
    unchanged. A model without DSBN comes back as a plain deep copy (``domain`` is then ignored).
    """
    router = _find_router(model)
    folded = copy.deepcopy(model)
    if router is None:
        return folded
    index = router.eval_domain if domain is None else _domain_index(domain, router.num_domains, "domain")
    if isinstance(folded, DomainSpecificBatchNorm):
        return folded.bns[index]
    targets = [
        (parent, name, child)
        for parent in folded.modules()
        for name, child in parent.named_children()
        if isinstance(child, DomainSpecificBatchNorm)
    ]
    plain: dict[int, nn.Module] = {}
    for parent, name, child in targets:
        plain.setdefault(id(child), child.bns[index])
        setattr(parent, name, plain[id(child)])
    folded.__dict__.pop(ROUTER_ATTRIBUTE, None)
    return folded
