"""Which exact kNN a run's clustering uses: faiss, unless the run trains on CUDA and faiss has no
GPU, where torch's blocked search runs on the training device."""

from __future__ import annotations

import pytest
import torch
from dependency_injector import providers

from reidkit.adapters.clustering.knn import ExactKnn, TorchKnn
from reidkit.entrypoints import clustering as module
from reidkit.entrypoints.clustering import Clustering, exact_knn
from reidkit.entrypoints.settings import load_profile, unstructure_profile


@pytest.mark.parametrize(
    ("device", "faiss_gpus", "expected"),
    [
        (None, 0, ExactKnn),  # reidkit label: no training device
        ("cpu", 0, ExactKnn),
        (torch.device("cpu"), 1, ExactKnn),
        ("cuda", 1, ExactKnn),  # faiss' own GPU index
        ("cuda", 0, TorchKnn),  # faiss-cpu (macOS, Windows) or a faiss-gpu build that sees no GPU
        (torch.device("cuda", 1), 0, TorchKnn),
    ],
)
def test_the_exact_search_is_chosen_by_device_and_faiss(monkeypatch, device, faiss_gpus, expected) -> None:
    monkeypatch.setattr(module, "faiss_gpus", lambda: faiss_gpus)
    knn = exact_knn(device)
    assert type(knn) is expected
    if expected is TorchKnn:
        assert knn.device == device


@pytest.mark.parametrize("kind", ["dbscan", "infomap"])
def test_the_labelers_use_the_chosen_search(monkeypatch, kind) -> None:
    monkeypatch.setattr(module, "faiss_gpus", lambda: 0)
    container = Clustering(device=providers.Object(torch.device("cuda")))
    container.config.from_dict(unstructure_profile(load_profile("spcl_usl", [f"pseudo_labeler.kind='{kind}'", "refine.kind=none"])))
    assert isinstance(container.labeler().knn, TorchKnn)
    label_only = Clustering()  # `reidkit label`
    label_only.config.from_dict(unstructure_profile(load_profile("spcl_usl", [f"pseudo_labeler.kind='{kind}'", "refine.kind=none"])))
    assert isinstance(label_only.labeler().knn, ExactKnn)
