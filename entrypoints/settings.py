"""The profile schema: attrs settings validated by cattrs, with one-line errors naming the path.

Defaults live here, not in a base TOML; a profile file only says what its paper changes. cattrs
ignores unknown keys by default, so the converter forbids them, and tagged unions dispatch on
``kind`` with an error that lists the allowed kinds (cattrs' own message would be misleading).
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Union

import cattrs
from attrs import asdict as attrs_asdict, field, fields, frozen, has, validators as v
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError

from reidkit.adapters.data.readers import dataset_reader, reader_names
from reidkit.adapters.models.names import HEADS, WEIGHT_FORMATS, is_trunk_name, unknown_backbone_message
from reidkit.domain.errors import ProfileError
from reidkit.entrypoints.methods import method_names
from reidkit.entrypoints.presets import SCALES, scale_settings



Head = Literal[HEADS]  # type: ignore[valid-type] - the names are defined once, in adapters/models/names.py
WeightFormat = Literal[WEIGHT_FORMATS]  # type: ignore[valid-type]


def _positive_sizes(_: object, attribute: Any, value: Sequence[int]) -> None:
    if any(m < 0 for m in value) or list(value) != sorted(value):
        raise ValueError(f"'{attribute.name}' must be increasing epoch numbers >= 0: {list(value)}")


WorkerCount = Union[int, Literal["auto"]]


def _worker_count(_: object, attribute: Any, value: int | str) -> None:
    if value != "auto" and value < 0:  # the type is checked when structured
        raise ValueError(f"'{attribute.name}' must be 'auto' or a count >= 0, got {value!r}")


def _structure_worker_count(value: Any, _: Any) -> int | str:
    if value == "auto" or isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"expected 'auto' or an int >= 0, got {type(value).__name__} {value!r}")


TrainDomains = Union[str, list[str]]


def _train_domains(_: object, attribute: Any, value: str | list[str]) -> None:
    if isinstance(value, list):
        if not value:
            raise ValueError(f"'{attribute.name}' is an empty list: name the domain(s) to train on")
        repeated = sorted({d for d in value if value.count(d) > 1})
        if repeated:
            raise ValueError(f"'{attribute.name}' names {repeated} more than once")


def _structure_train_domains(value: Any, _: Any) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise TypeError(f"expected a domain name or a list of them, got {type(value).__name__} {value!r}")


def train_domains(train: Any) -> list[str]:
    """``train.domain`` as a list (one name or several)."""
    return [train.domain] if isinstance(train.domain, str) else list(train.domain)


# --- data ---------------------------------------------------------------------------------------


@frozen(kw_only=True)
class SyntheticData:
    """The embedded, procedurally drawn two-domain data set, generated once per (preset, seed)."""

    kind: Literal["synthetic"] = "synthetic"
    # tiny_video: short tracklets in the DukeMTMC-VideoReID layout (video re-ID, [video] applies);
    # baggage, tiny_baggage: bags in the MVB layout, one domain "mvb" (gallery and probe sides)
    preset: Literal["tiny", "demo", "demo_dense", "tiny_video", "baggage", "tiny_baggage"] = "demo"
    seed: int = field(default=0, validator=v.ge(0))
    cache_dir: str = ""  # "" = $REIDKIT_DATA_DIR, else ~/.cache/reidkit/synthetic
    # training images that cannot be decoded: fail = stop before training and list them; skip = train
    # without them (listed in the run folder's unreadable_images_<domain>.tsv either way)
    unreadable: Literal["fail", "skip"] = "fail"


@frozen(kw_only=True)
class MarketFolders:
    """Market-1501-layout folders on disk, one per domain name."""

    kind: Literal["market"] = "market"
    roots: dict[str, str] = field(factory=dict)
    unreadable: Literal["fail", "skip"] = "fail"  # as for the synthetic data

    @roots.validator
    def _check(self, attribute: Any, value: dict[str, str]) -> None:
        if not value:
            raise ValueError("'roots' must name at least one domain folder, e.g. roots.source = '/data/market'")


@frozen(kw_only=True)
class DatasetFolders:
    """Datasets on disk in any layout reidkit reads (docs/datasets.md), one per domain name:
    ``[data.sets.<domain>]`` holds its ``reader`` (the layout: market, msmt17, veri, folders, ...),
    its ``root`` and the reader's own options (``combineall = true``, say)."""

    kind: Literal["datasets"] = "datasets"
    sets: dict[str, dict[str, Any]] = field(factory=dict)
    unreadable: Literal["fail", "skip"] = "fail"  # as for the synthetic data

    @sets.validator
    def _check(self, attribute: Any, value: dict[str, dict[str, Any]]) -> None:
        if not value:
            raise ValueError("'sets' must name at least one dataset, e.g. sets.market = {reader = 'market', root = '/data/market'}")
        for name, table in value.items():
            dataset_options(name, table)


def dataset_options(name: str, table: Mapping[str, Any]) -> tuple[str, str, Any, bool]:
    """(reader, root, the reader's options checked against its settings class, combineall) of
    the dataset ``name`` of ``[data.sets]``; one ValueError naming the set otherwise.

    ``combineall`` (any reader) trains on the query and gallery images too, as Torchreid's
    option does; a reader with a ``combineall`` option of its own (MSMT17's validation list) is
    given it as well."""

    where = f"data.sets.{name}"
    if not isinstance(table, Mapping):
        raise ValueError(f"{where} must be a table with reader and root, got {table!r}")
    rest = dict(table)
    reader_name, root = rest.pop("reader", None), rest.pop("root", None)
    if reader_name not in reader_names():
        raise ValueError(f"{where}.reader must be one of {reader_names()}, got {reader_name!r}")
    if not isinstance(root, str) or not root:
        raise ValueError(f"{where}.root must name the dataset's folder, got {root!r}")
    combine = rest.pop("combineall", False)
    if not isinstance(combine, bool):
        raise ValueError(f"{where}.combineall must be true or false, got {combine!r}")
    reader = dataset_reader(reader_name)
    if reader.options is not None and "combineall" in {f.name for f in fields(reader.options)}:
        rest["combineall"] = combine
    if reader.options is None:
        if rest:
            raise ValueError(f"{where}: reader {reader_name!r} has no options; found {sorted(rest)}")
        return reader_name, root, None, combine
    try:
        return reader_name, root, make_converter().structure(rest, reader.options), combine
    except ClassValidationError as exc:
        lines = cattrs.transform_error(exc, path=where, format_exception=_format)
        raise ValueError("; ".join(_path_first(line) for line in lines)) from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _path_first(line: str) -> str:
    """``message @ path`` as ``path: message``: the dataset's line then ends in the profile's path."""
    message, _, path = line.rpartition(" @ ")
    return f"{path}: {message}" if message else line


DataSettings = Union[SyntheticData, MarketFolders, DatasetFolders]

VIDEO_PRESETS = ("tiny_video",)  # the synthetic presets of tracklets (adapters/data/synth_video.py)


def video_domains(data: Mapping[str, Any]) -> list[str]:
    """The domains of a ``[data]`` table (plain data, as the containers' configuration holds it)
    whose splits hold tracklets: a video synthetic preset's, or those of ``[data.sets]`` read by a
    video reader (mars, dukemtmc_video, ilidsvid, prid2011)."""
    kind = data.get("kind", "synthetic")
    if kind == "synthetic":
        return ["source"] if data.get("preset", "demo") in VIDEO_PRESETS else []
    if kind == "datasets":
        sets = data.get("sets") or {}
        return [name for name, table in sets.items() if dataset_reader(table["reader"]).video]
    return []


def data_form(data: Mapping[str, Any]) -> str:
    """"video" when any domain of ``[data]`` holds tracklets, else "image": what the composition
    root selects the batches' frame sampling and the tracklet feature encoder by."""
    return "video" if video_domains(data) else "image"


@frozen(kw_only=True)
class InputSettings:
    height: int = field(default=256, validator=v.ge(16))
    width: int = field(default=128, validator=v.ge(8))
    flip_p: float = field(default=0.5, validator=[v.ge(0.0), v.le(1.0)])
    pad: int = field(default=10, validator=v.ge(0))
    erasing_p: float = field(default=0.5, validator=[v.ge(0.0), v.le(1.0)])
    # DataLoader worker processes: "auto" = up to 8 (with pinned memory, kept across epochs) on a
    # CUDA device, none on the CPU; a count >= 0 is used on either (adapters/data/loading.py)
    num_workers: WorkerCount = field(default="auto", validator=_worker_count)


@frozen(kw_only=True)
class VideoSettings:
    """Video re-ID data (tracklets; Torchreid's defaults): each training tracklet gives ``seq_len``
    frames, picked by ``sample``, each a training image of the tracklet's pid (a batch of P x K
    tracklets is P x K x seq_len images); a test tracklet's feature pools (``pooling``) the
    features of its frames picked by ``test_sample``. Unused with image data."""

    seq_len: int = field(default=15, validator=[v.ge(1), v.le(1024)])
    # evenly: cut to a multiple of seq_len, fixed stride (short tracklets padded with their last
    # frame); random: drawn with replacement only when short, kept in temporal order; all: every frame
    sample: Literal["evenly", "random", "all"] = "evenly"
    # evenly: seq_len frames as above (Torchreid's test loader); all: every frame of the tracklet
    test_sample: Literal["evenly", "all"] = "evenly"
    pooling: Literal["avg", "max"] = "avg"


# --- model and losses ---------------------------------------------------------------------------


@frozen(kw_only=True)
class ModelSettings:
    # a ResNet, ResNet-IBN-a, OSNet, ViT, or any 'timm:<model>' / 'torchvision:<model>' CNN
    # (docs/backbones.md)
    backbone: str = field(default="resnet50")
    last_stride: Literal[1, 2] = 1
    pooling: Literal["avg", "gem"] = "avg"
    # bnneck: BoT's neck and one classifier; pcb: PCB's horizontal stripes, each with its classifier
    head: Head = "bnneck"
    parts: int = field(default=6, validator=v.ge(1))  # PCB's stripes
    part_dim: int = field(default=256, validator=v.ge(1))  # PCB's reduction per stripe
    bnneck: bool = True
    dropout: float = field(default=0.0, validator=[v.ge(0.0), v.lt(1.0)])
    embedding_dim: int = field(default=0, validator=v.ge(0))
    pretrained: str = ""  # a local weights file; "" = random initialisation (nothing is downloaded)
    # the file's layout: auto (detected and named in the log), or one of WEIGHT_FORMATS
    pretrained_format: WeightFormat = "auto"
    # options of the trunk's factory, e.g. a ViT's patch_stride (docs/backbones.md)
    trunk_options: dict[str, Any] = field(factory=dict)
    dsbn: bool = False  # domain-specific BN (UDA): one BN per domain, the target's at test time
    # a foreground-mask decoder on the trunk's mask_stage, trained on Gaussian targets from the
    # data's true boxes (loss.mask_*; supervised training, data with boxes); mask_attention also
    # weights the pooling by the predicted mask, which the pooling reads detached (its boxes alone
    # train it) unless mask_attention_trains_mask: then the re-ID loss reshapes it too (measured:
    # it stops being a foreground mask; docs/baggage.md)
    mask_head: bool = False
    mask_stage: str = "layer3"
    mask_attention: bool = False
    mask_attention_trains_mask: bool = False

    @backbone.validator
    def _known_backbone(self, attribute: Any, value: str) -> None:
        if not is_trunk_name(value):
            raise ValueError(unknown_backbone_message(value))


@frozen(kw_only=True)
class LossSettings:
    ce_weight: float = field(default=1.0, validator=v.ge(0.0))
    label_smoothing: float = field(default=0.1, validator=[v.ge(0.0), v.lt(1.0)])
    triplet_weight: float = field(default=1.0, validator=v.ge(0.0))
    triplet_margin: float = field(default=0.3, validator=v.ge(0.0))
    soft_margin: bool = False
    # what the triplet loss sees: "features" (pooled, before the BNNeck) or "embeddings" (after it)
    triplet_on: Literal["features", "embeddings"] = "features"
    # hard: batch-hard hinge triplet (BoT; soft_margin for softplus); softmax: OpenUnReID's softmax
    # triplet, triplet_margin its soft target weight (0.3 in its configs: not a distance margin)
    triplet_kind: Literal["hard", "softmax"] = "hard"
    # the mask head's loss, weighed once: mse (foreground error + background_weight x background
    # prediction), focal (for soft targets), combined (their sum); targets are Gaussians with sigma
    # = mask_sigma_ratio x the box, foreground where the target >= mask_threshold
    mask_weight: float = field(default=0.0, validator=v.ge(0.0))
    mask_loss: Literal["mse", "focal", "combined"] = "mse"
    mask_sigma_ratio: float = field(default=0.1, validator=v.gt(0.0))
    mask_threshold: float = field(default=0.1, validator=[v.gt(0.0), v.lt(1.0)])
    mask_background_weight: float = field(default=1.0, validator=v.ge(0.0))
    mask_gamma: float = field(default=2.0, validator=v.ge(0.0))

    def __attrs_post_init__(self) -> None:
        if self.triplet_kind == "softmax" and self.triplet_margin >= 1.0:
            raise ValueError(
                f"triplet_margin is the softmax triplet's soft target weight and must be below 1, got {self.triplet_margin}"
            )


@frozen(kw_only=True)
class AdamSettings:
    kind: Literal["adam"] = "adam"
    lr: float = field(default=3.5e-4, validator=v.gt(0.0))
    weight_decay: float = field(default=5e-4, validator=v.ge(0.0))


@frozen(kw_only=True)
class SgdSettings:
    kind: Literal["sgd"] = "sgd"
    lr: float = field(default=0.01, validator=v.gt(0.0))
    weight_decay: float = field(default=5e-4, validator=v.ge(0.0))
    momentum: float = field(default=0.9, validator=[v.ge(0.0), v.lt(1.0)])


OptimizerSettings = Union[AdamSettings, SgdSettings]


@frozen(kw_only=True)
class StepSchedule:
    kind: Literal["step"] = "step"
    milestones: list[int] = field(factory=lambda: [40, 70], validator=_positive_sizes)
    gamma: float = field(default=0.1, validator=[v.gt(0.0), v.le(1.0)])
    warmup_epochs: int = field(default=10, validator=v.ge(0))
    warmup_factor: float = field(default=0.01, validator=[v.gt(0.0), v.le(1.0)])


@frozen(kw_only=True)
class CosineSchedule:
    kind: Literal["cosine"] = "cosine"
    min_lr: float = field(default=1e-7, validator=v.ge(0.0))
    warmup_epochs: int = field(default=10, validator=v.ge(0))
    warmup_factor: float = field(default=0.01, validator=[v.gt(0.0), v.le(1.0)])


SchedulerSettings = Union[StepSchedule, CosineSchedule]


@frozen(kw_only=True)
class TrainSettings:
    # a domain, or several trained together (supervised): their identities and cameras side by side
    domain: TrainDomains = field(default="source", validator=_train_domains)
    # P x K batches (identity), or Torchreid's RandomDatasetSampler (datasets) / RandomDomainSampler
    # (cameras): groups_per_batch datasets or cameras, batch / groups_per_batch images of each
    sampler: Literal["identity", "datasets", "cameras"] = "identity"
    groups_per_batch: int = field(default=2, validator=v.ge(1))
    epochs: int = field(default=120, validator=v.ge(1))
    ids_per_batch: int = field(default=16, validator=v.ge(2))
    instances_per_id: int = field(default=4, validator=v.ge(1))
    iters_per_epoch: int = field(default=0, validator=v.ge(0))  # 0 = each image about once
    eval_every: int = field(default=0, validator=v.ge(0))  # 0 = after the last epoch only
    eval_start: bool = False  # also score the starting model, before the first epoch (as epoch 0)
    # a pseudo label with one image (SpCL's un-clustered instance): k = K augmented copies in its
    # batch, as any identity with fewer than K images; once = one image per pass of every cluster's
    # images, in batches of P x K images; spcl = SpCL's sampler: a pass is K images of each cluster
    # and each singleton's image (IdentitySampler's docstring has the difference)
    singletons: Literal["k", "once", "spcl"] = "k"
    amp: Literal["auto", "on", "off"] = "auto"  # auto = on for CUDA, off on CPU
    # autocast dtype when amp is on: auto = fp16 (with a grad scaler) on CUDA, bf16 on CPU;
    # bf16 needs no scaler but an Ampere or newer GPU; fp16 is CUDA only
    amp_dtype: Literal["auto", "bf16", "fp16"] = "auto"
    log_every: int = field(default=20, validator=v.ge(1))
    # steps with a non-finite loss a run may skip (no update applied) before it stops as diverged;
    # 0 = stop at the first (exit code 3, the latest checkpoint kept as the last finite one)
    max_bad_steps: int = field(default=0, validator=v.ge(0))


def _some_domain(_: object, attribute: Any, value: list[str]) -> None:
    if not value:
        raise ValueError(
            f"'{attribute.name}' is empty: name at least one domain to evaluate (the first picks the best "
            "checkpoint, best.pt; a run without one would end with no metrics and no best model)"
        )


def _device(_: object, attribute: Any, value: str) -> None:
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value.strip().lower()):
        raise ValueError(f"'{attribute.name}' must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {value!r}")


MAX_THREADS = 1024  # more is a typo: torch would try to start them all (and run out of memory)


@frozen(kw_only=True)
class EvalSettings:
    domains: list[str] = field(factory=lambda: ["source", "target"], validator=_some_domain)
    metric: Literal["euclidean", "cosine"] = "euclidean"
    normalize: bool = True
    flip: bool = False
    batch_size: int = field(default=128, validator=v.ge(1))
    max_rank: int = field(default=50, validator=v.ge(1))
    # 0 = the Market CMC; N = CUHK03's classic single-gallery-shot CMC over N random draws of one
    # gallery image per identity (Torchreid's use_metric_cuhk03 draws 10)
    single_gallery_shot: int = field(default=0, validator=v.ge(0))


@frozen(kw_only=True)
class RuntimeSettings:
    device: str = field(default="auto", validator=_device)
    threads: int = field(default=0, validator=[v.ge(0), v.le(MAX_THREADS)])  # 0 = torch's default
    work_dir: str = ""  # "" = runs/<profile name>
    resume: bool = True
    # under torchrun: BatchNorm statistics over the global batch (SyncBatchNorm, CUDA only;
    # converted after DSBN); a single process keeps plain BatchNorm
    sync_bn: bool = False
    # the longest any rank waits for the others (rendezvous, every collective) before the job
    # fails instead of hanging; see docs/doctor.md for why 300 s
    collective_timeout_s: float = field(default=300.0, validator=[v.gt(0.0), v.le(86400.0)])
    # no progress bars, and only warnings and errors on the console (log.jsonl keeps every event);
    # `--quiet` on the command line sets it
    quiet: bool = False


# --- adaptation (every method but supervised) -------------------------------------------------


@frozen(kw_only=True)
class AdaptSettings:
    """How an adaptation run starts and what else it sees. The unlabelled domain is
    ``train.domain``; ``source_domain`` is a labelled domain trained alongside it (SpCL's UDA),
    "" for none."""

    # scratch: the initial encoder; pretrained: `model.pretrained` (USL's ImageNet weights; when "",
    # `reidkit adapt` trains `pretrain_profile` first); source_model: a source-supervised model (UDA)
    start_from: Literal["scratch", "pretrained", "source_model"] = "scratch"
    source_model: str = ""  # a checkpoint or state dict; "" = train `pretrain_profile` first
    pretrain_profile: str = "demo"  # supervised profile that makes the starting model when none is given
    source_domain: str = ""
    reset_optimizer: bool = False  # clear optimizer state every epoch (the strong baseline does)


# --- pseudo labels (unsupervised methods and `reidkit label`) -----------------------------------


@frozen(kw_only=True)
class DbscanSettings:
    kind: Literal["dbscan"] = "dbscan"
    k1: int = field(default=30, validator=v.ge(1))
    k2: int = field(default=6, validator=v.ge(1))
    eps: float = field(default=0.6, validator=[v.gt(0.0), v.lt(1.0)])
    min_samples: int = field(default=4, validator=v.ge(1))
    use_outliers: bool = False
    approximate: bool = False


@frozen(kw_only=True)
class KMeansSettings:
    kind: Literal["kmeans"] = "kmeans"
    num_clusters: int = field(default=500, validator=v.ge(2))
    niter: int = field(default=300, validator=v.ge(1))


@frozen(kw_only=True)
class InfomapSettings:
    kind: Literal["infomap"] = "infomap"
    k: int = field(default=15, validator=v.ge(2))
    min_similarity: float = field(default=0.5, validator=[v.ge(0.0), v.le(1.0)])
    min_cluster_size: int = field(default=5, validator=v.ge(1))


PseudoLabelerSettings = Union[DbscanSettings, KMeansSettings, InfomapSettings]


@frozen(kw_only=True)
class NoRefinement:
    """The labeler's clusters as they are."""

    kind: Literal["none"] = "none"


@frozen(kw_only=True)
class SelfPacedSettings:
    """SpCL's self-paced reliability criterion: DBSCAN again at eps - gap and eps + gap, and the
    samples of clusters that are neither compact nor independent leave them."""

    kind: Literal["self_paced"] = "self_paced"
    eps_gap: float = field(default=0.02, validator=[v.gt(0.0), v.lt(0.5)])


RefineSettings = Union[NoRefinement, SelfPacedSettings]


@frozen(kw_only=True)
class NoCorrection:
    """No epoch corrects its labels."""

    kind: Literal["none"] = "none"


@frozen(kw_only=True)
class GlcSettings:
    """GLC's correction network (adapters/clustering/gcn_links.py) at epochs ``first_epoch``,
    ``first_epoch + every``, ... counted from 1 as the logs count them (GLC: 11, 16, ..., its
    0-based epochs 10, 15, ...); after the correction of each of ``restart_epochs`` the model
    restarts from the run's starting weights (GLC: 16). Every other key is the network's, at the
    published values; ``subgraphs_per_epoch`` 0 scales upstream's 203 to the clustered samples."""

    kind: Literal["glc"] = "glc"
    first_epoch: int = field(default=11, validator=v.ge(1))
    every: int = field(default=5, validator=v.ge(1))
    restart_epochs: list[int] = field(factory=list)
    k: int = field(default=50, validator=v.ge(2))
    hidden: int = field(default=512, validator=v.ge(1))
    cluster_num: int = field(default=350, validator=v.ge(1))
    member_fraction: float = field(default=0.9, validator=[v.gt(0.0), v.le(1.0)])
    epochs: int = field(default=2, validator=v.ge(1))
    subgraphs_per_epoch: int = field(default=0, validator=v.ge(0))
    edge_chunks: int = field(default=40, validator=v.ge(1))
    passes: int = field(default=2, validator=v.ge(1))
    min_subgraph_size: int = field(default=100, validator=v.ge(1))
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = field(default=0.1, validator=v.gt(0.0))
    momentum: float = field(default=0.9, validator=[v.ge(0.0), v.lt(1.0)])
    weight_decay: float = field(default=1e-5, validator=v.ge(0.0))
    gamma: float = field(default=2.0, validator=v.ge(0.0))
    link_threshold: float = field(default=0.6, validator=[v.ge(0.0), v.lt(1.0)])
    shared_threshold: float = field(default=0.6, validator=[v.ge(0.0), v.lt(1.0)])
    min_cluster_size: int = field(default=5, validator=v.ge(1))
    approximate: bool = False  # the IVF kNN graph, for large N

    @restart_epochs.validator
    def _restarts_are_corrections(self, attribute: Any, value: list[int]) -> None:
        wrong = [e for e in value if e < self.first_epoch or (e - self.first_epoch) % self.every]
        if wrong:
            raise ValueError(
                f"restart_epochs {wrong} are not correction epochs (first_epoch {self.first_epoch}, every {self.every})"
            )


CorrectSettings = Union[NoCorrection, GlcSettings]


@frozen(kw_only=True)
class RerankSettings:
    """k-reciprocal re-ranking (Zhong et al., CVPR'17) for evaluation."""

    enabled: bool = False
    k1: int = field(default=20, validator=v.ge(1))
    k2: int = field(default=6, validator=v.ge(1))
    lambda_value: float = field(default=0.3, validator=[v.ge(0.0), v.le(1.0)])


@frozen(kw_only=True)
class TranslatedSettings:
    """A domain read as its rendering in another domain's style (a translate run's translated/
    folder): SPGAN's protocol trains on the source translated to the target's style."""

    domain: str = ""  # the domain replaced by its translation; "" = none
    # the rendered dataset; "" = `reidkit train` / `reidkit adapt` run `profile` first, in the
    # run's translation/ folder (resumed, or reused when finished, like any run)
    root: str = ""
    profile: str = "spgan"  # the translate profile that makes it
    # also train on the domain's real images: its training split holds each image twice, as it was
    # and as rendered (the translation as an augmentation); its test splits stay the real ones
    keep_original: bool = False


@frozen(kw_only=True)
class Profile:
    """A whole run: what a TOML profile says, after the embedded scale, defaults and --set.

    ``method_options`` is the method's own table (``[spcl]`` in an SpCL profile), kept as written
    here and checked by the method's settings class when the run is built: the shared schema does
    not know any method's settings, so adding a method edits nothing here."""

    method: str = field(default="supervised")
    name: str = "custom"
    seed: int = field(default=0, validator=v.ge(0))
    # auto: on synthetic data, apply the preset's EmbeddedScale (presets.py); applied: already
    # applied (a run folder's resolved profile); off: run the profile as written
    embedded_scale: Literal["auto", "applied", "off"] = "auto"
    data: DataSettings = field(factory=SyntheticData)
    input: InputSettings = field(factory=InputSettings)
    video: VideoSettings = field(factory=VideoSettings)
    model: ModelSettings = field(factory=ModelSettings)
    loss: LossSettings = field(factory=LossSettings)
    optimizer: OptimizerSettings = field(factory=AdamSettings)
    scheduler: SchedulerSettings = field(factory=StepSchedule)
    train: TrainSettings = field(factory=TrainSettings)
    eval: EvalSettings = field(factory=EvalSettings)
    runtime: RuntimeSettings = field(factory=RuntimeSettings)
    pseudo_labeler: PseudoLabelerSettings = field(factory=DbscanSettings)
    refine: RefineSettings = field(factory=NoRefinement)
    correct: CorrectSettings = field(factory=NoCorrection)
    rerank: RerankSettings = field(factory=RerankSettings)
    adapt: AdaptSettings = field(factory=AdaptSettings)
    translated: TranslatedSettings = field(factory=TranslatedSettings)
    method_options: dict[str, Any] = field(factory=dict)

    @method.validator
    def _known_method(self, attribute: Any, value: str) -> None:
        known = method_names()
        if value not in known:
            raise ValueError(f"method must be one of {known}, got {value!r}")

    def __attrs_post_init__(self) -> None:
        if self.method != "supervised":
            if self.train.iters_per_epoch < 1:
                raise ValueError(f"method {self.method!r} needs train.iters_per_epoch >= 1 (pseudo labels change each epoch)")
            if self.adapt.source_model and self.adapt.start_from != "source_model":
                raise ValueError(f"adapt.source_model is set but adapt.start_from is '{self.adapt.start_from}'")
            if not isinstance(self.train.domain, str):
                raise ValueError(f"method {self.method!r} adapts to one domain; train.domain lists {self.train.domain}")
            if self.train.sampler != "identity":
                raise ValueError(f"train.sampler '{self.train.sampler}' is for supervised training; method {self.method!r} samples its pseudo labels P x K")
            if self.adapt.source_domain == self.train.domain:
                raise ValueError(f"adapt.source_domain and train.domain are both '{self.train.domain}'")
        elif not isinstance(self.correct, NoCorrection):
            raise ValueError(f"correct.kind '{self.correct.kind}' corrects pseudo labels; method 'supervised' has none")
        if self.method == "supervised" and self.model.dsbn:
            raise ValueError("model.dsbn needs an adaptation method (supervised training sees one domain)")
        if isinstance(self.scheduler, CosineSchedule) and self.scheduler.warmup_epochs >= self.train.epochs:
            raise ValueError(
                f"a cosine schedule needs scheduler.warmup_epochs ({self.scheduler.warmup_epochs}) below "
                f"train.epochs ({self.train.epochs})"
            )
        if self.train.sampler == "datasets" and len(train_domains(self.train)) < self.train.groups_per_batch:
            raise ValueError(
                f"train.sampler 'datasets' draws train.groups_per_batch ({self.train.groups_per_batch}) datasets per batch, "
                f"but train.domain lists {len(train_domains(self.train))}"
            )
        if self.train.sampler != "identity":
            batch = self.train.ids_per_batch * self.train.instances_per_id
            if batch % self.train.groups_per_batch:
                raise ValueError(
                    f"train.sampler '{self.train.sampler}' splits the batch of train.ids_per_batch x train.instances_per_id "
                    f"({batch}) images evenly over train.groups_per_batch ({self.train.groups_per_batch}) groups"
                )
        self._check_video()
        self._check_translated()
        self._check_mask()
        if isinstance(self.refine, SelfPacedSettings) and not isinstance(self.pseudo_labeler, DbscanSettings):
            raise ValueError(f"refine.kind 'self_paced' needs pseudo_labeler.kind 'dbscan', got '{self.pseudo_labeler.kind}'")
        if isinstance(self.data, MarketFolders | DatasetFolders):
            known = set(self.data.roots if isinstance(self.data, MarketFolders) else self.data.sets)
            named = [("train.domain", d) for d in train_domains(self.train)] + [("eval.domains", d) for d in self.eval.domains]
            if self.adapt.source_domain:
                named.append(("adapt.source_domain", self.adapt.source_domain))
            for where, domain in named:
                if domain not in known:
                    table = "data.roots" if isinstance(self.data, MarketFolders) else "data.sets"
                    raise ValueError(f"{where} names '{domain}', but {table} has only {sorted(known)}")

    def _check_mask(self) -> None:
        model, loss = self.model, self.loss
        if model.mask_attention and not model.mask_head:
            raise ValueError("model.mask_attention weights the pooling by the predicted mask: it needs model.mask_head = true")
        if model.mask_attention_trains_mask and not model.mask_attention:
            raise ValueError("model.mask_attention_trains_mask lets the re-ID loss train the mask through the pooling: it needs model.mask_attention = true")
        if loss.mask_weight > 0 and not model.mask_head:
            raise ValueError(f"loss.mask_weight is {loss.mask_weight} but the model has no mask head (model.mask_head = false)")
        if not model.mask_head:
            return
        if loss.mask_weight == 0:
            raise ValueError("model.mask_head needs loss.mask_weight > 0: an untrained head predicts nothing")
        if self.method != "supervised":
            raise ValueError(f"model.mask_head trains with the supervised method (its targets are true boxes); method {self.method!r} has none")
        if model.head != "bnneck":
            raise ValueError(f"model.mask_head is built on the BNNeck head; model.head is '{model.head}'")

    def _check_translated(self) -> None:
        translated = self.translated
        if translated.root and not translated.domain:
            raise ValueError("translated.root is set but translated.domain is empty: name the domain it replaces")
        if translated.keep_original and not translated.domain:
            raise ValueError("translated.keep_original keeps a translated domain's real images, but translated.domain is empty")
        if not translated.domain:
            return
        if self.method == "translate":
            raise ValueError("translated.domain replaces a domain by its translation; a translate run makes one, it does not read one")
        if video_domains(attrs_asdict(self.data)):
            raise ValueError("translated.domain: image translation renders images; the data holds tracklets (video)")
        if isinstance(self.data, MarketFolders | DatasetFolders):
            known = set(self.data.roots if isinstance(self.data, MarketFolders) else self.data.sets)
            if translated.domain not in known:
                table = "data.roots" if isinstance(self.data, MarketFolders) else "data.sets"
                raise ValueError(f"translated.domain names '{translated.domain}', but {table} has only {sorted(known)}")

    def _check_video(self) -> None:
        video = video_domains(attrs_asdict(self.data))
        if not video:
            return
        if self.method != "supervised":
            raise ValueError(
                f"the data holds tracklets (video: {', '.join(video)}); video re-ID trains with the supervised method, "
                f"and method {self.method!r} clusters images"
            )
        trained = train_domains(self.train)
        if isinstance(self.data, DatasetFolders) and any(d in video for d in trained) and not all(d in video for d in trained):
            images = [d for d in trained if d not in video]
            raise ValueError(f"train.domain mixes video datasets ({', '.join(d for d in trained if d in video)}) with image ones ({', '.join(images)})")

    @property
    def scaled(self) -> bool:
        """Whether the embedded data's scale was applied to this profile."""
        return self.embedded_scale == "applied"


# --- converter ----------------------------------------------------------------------------------


def kinds_of(union: Any) -> dict[str, type]:
    """``kind`` literal → settings class of a tagged union (tests compare it with the container)."""
    return {fields(cls).kind.default: cls for cls in typing.get_args(union)}


def _is_kind_union(tp: Any) -> bool:
    args = typing.get_args(tp)
    is_union = typing.get_origin(tp) in (Union, types.UnionType)
    return is_union and bool(args) and all(has(a) and hasattr(fields(a), "kind") for a in args)


def make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)

    def structure_kind_union(value: Any, union: Any) -> Any:
        by_kind = kinds_of(union)
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a table with a 'kind' key, got {value!r}")
        kind = value.get("kind", next(iter(by_kind)))
        if kind not in by_kind:
            raise ValueError(f"kind must be one of {sorted(by_kind)}, got {kind!r}")
        return converter.structure({**value, "kind": kind}, by_kind[kind])

    converter.register_structure_hook_func(_is_kind_union, structure_kind_union)
    converter.register_structure_hook_func(lambda tp: tp == WorkerCount, _structure_worker_count)
    converter.register_structure_hook_func(lambda tp: tp == TrainDomains, _structure_train_domains)
    # cattrs would coerce 1.5 to 1 and "yes" to True; a profile value of the wrong type is a typo.
    converter.register_structure_hook(int, _strict(int, (int,)))
    converter.register_structure_hook(float, _strict(float, (int, float)))
    converter.register_structure_hook(bool, _strict(bool, (bool,)))
    converter.register_structure_hook(str, _strict(str, (str,)))
    return converter


def _strict(target: type, accepted: tuple[type, ...]) -> Any:
    def structure(value: Any, _: type) -> Any:
        if isinstance(value, bool) and target is not bool or not isinstance(value, accepted):
            raise TypeError(f"expected {target.__name__}, got {type(value).__name__} {value!r}")
        return target(value)

    return structure


def _format(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"extra fields found ({', '.join(sorted(exc.extra_fields))})"
    if isinstance(exc, KeyError):
        return "required field missing"
    text = str(exc)
    if typing.get_origin(type_) is Literal:
        got = text.split(" not in literal")[0]
        return f"must be one of {list(typing.get_args(type_))}, got {got!r}"
    if type_ is None or has(type_) or _is_kind_union(type_):
        return text  # attrs validators and the kind dispatch already say what is wrong
    if isinstance(exc, TypeError) and text.startswith("expected "):
        return text
    not_a_table = re.fullmatch(r"'(\w+)' object has no attribute 'items'", text)
    if typing.get_origin(type_) is dict and not_a_table:
        return f"expected a table, got {not_a_table.group(1)}"
    name = getattr(type_, "__name__", str(type_))
    return f"invalid value for type {name}: {text}"


def _tables_are_tables(raw: Mapping[str, Any], method: Any) -> None:
    """A section given a value (``--set train=3``, or ``train = 3`` in a file) is named as such;
    cattrs would report it as "argument of type 'int' is not iterable"."""
    types_ = typing.get_type_hints(Profile)
    tables = [f.name for f in fields(Profile) if has(types_[f.name]) or _is_kind_union(types_[f.name])]
    if isinstance(method, str):
        tables.append(method)
    for name in tables:
        if name in raw and not isinstance(raw[name], Mapping):
            value = raw[name]
            raise ProfileError(
                f"[{name}] is a table of settings, got {type(value).__name__} {value!r}; set one of its keys "
                f"(--set {name}.KEY=VALUE) @ profile.{name}"
            )


def structure_profile(raw: Mapping[str, Any]) -> Profile:
    raw = dict(raw)
    method = raw.get("method", "supervised")
    _tables_are_tables(raw, method)
    if isinstance(method, str) and isinstance(raw.get(method), dict):
        raw["method_options"] = raw.pop(method)
    try:
        return make_converter().structure(raw, Profile)
    except ClassValidationError as exc:
        lines = cattrs.transform_error(exc, path="profile", format_exception=_format)
        raise ProfileError("\n".join(lines)) from None
    except (ValueError, TypeError) as exc:  # attrs validators of Profile itself
        raise ProfileError(f"{exc} @ profile") from None


def unstructure_profile(profile: Profile) -> dict[str, Any]:
    """Plain data (what the containers' Configuration reads): the method's options under the
    method's own name, as in a profile file."""
    plain = make_converter().unstructure(profile)
    options = plain.pop("method_options")
    if options:
        plain[profile.method] = options
    return plain


def structure_options(profile: Profile, schema: type) -> Any:
    """The method's own table checked against its settings class (one line per problem, with the
    path ``profile.<method>``)."""
    try:
        return make_converter().structure(dict(profile.method_options), schema)
    except ClassValidationError as exc:
        lines = cattrs.transform_error(exc, path=f"profile.{profile.method}", format_exception=_format)
        raise ProfileError("\n".join(lines)) from None
    except (ValueError, TypeError) as exc:
        raise ProfileError(f"{exc} @ profile.{profile.method}") from None


def unstructure_options(options: Any) -> dict[str, Any]:
    return make_converter().unstructure(options)


# --- loading ------------------------------------------------------------------------------------


def available_profiles() -> list[str]:
    folder = resources.files("reidkit.entrypoints") / "profiles"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def _read_profile(ref: str) -> tuple[str, dict[str, Any]]:
    path = Path(ref)
    if ref.endswith(".toml") or path.exists():
        if path.is_dir():
            raise ProfileError(f"profile {ref} is a folder, not a TOML file")
        if not path.is_file():
            raise ProfileError(f"profile file not found: {ref}")
        text, name = _profile_text(path, ref), path.stem
    else:
        resource = resources.files("reidkit.entrypoints") / "profiles" / f"{ref}.toml"
        if not resource.is_file():
            raise ProfileError(f"unknown profile {ref!r}; available: {', '.join(available_profiles())}")
        text, name = resource.read_text(), ref
    try:
        return name, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {ref} is not valid TOML: {exc}") from None


def _profile_text(path: Path, ref: str) -> str:
    """A profile file's text: UTF-8 as TOML requires; a byte-order mark (Windows editors write one)
    is dropped; anything else that is not UTF-8 is named, with where it is."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"profile {ref} cannot be read: {exc.strerror or exc}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ProfileError(
            f"profile {ref} is not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}, column {column}; "
            "Latin-1 or another legacy encoding?): TOML files must be UTF-8, so re-save it as UTF-8"
        ) from None


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word such as a path or a kind


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (value parsed as TOML, else taken as a string).

    Setting ``kind`` of a table starts that table afresh, so switching a strategy does not drag the
    previous strategy's keys along (they would be rejected as extra fields).
    """
    return _apply(raw, [_parse_override(item) for item in overrides])


def _parse_override(item: str) -> tuple[str, Any]:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ProfileError(f"--set expects section.key=value, got {item!r}")
    return key.strip(), _parse_value(text.strip())


def _apply(raw: dict[str, Any], items: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    for key, value in items:
        *parents, leaf = key.split(".")
        table = raw
        for part in parents:
            child = table.setdefault(part, {})
            if not isinstance(child, dict):
                raise ProfileError(f"--set {key}: '{part}' is a value, not a table")
            table = child
        if leaf == "kind" and table.get("kind") != value:
            table.clear()
        table[leaf] = value
    return raw


def load_profile(ref: str | None = None, overrides: Sequence[str] = (), *, settings: Mapping[str, Any] | None = None) -> Profile:
    """Load a profile by name (``entrypoints/profiles/NAME.toml``) or path; None = the defaults.
    ``settings`` is a table applied as --set would (before ``overrides``). On the synthetic data the
    preset's scale is applied (see presets.py for the precedence)."""
    name, raw = _read_profile(ref) if ref else ("custom", {})
    raw.setdefault("name", name)
    chosen = [*_flatten(settings or {}), *(_parse_override(item) for item in overrides)]
    return structure_profile(resolve(raw, chosen))


def load_data_settings(ref: str | None = None, overrides: Sequence[str] = ()) -> DataSettings:
    """The ``[data]`` table alone of a profile (with ``--set data.*``), checked: for commands that
    read data and nothing else, so that training and evaluation domains need not match it."""
    _, raw = _read_profile(ref) if ref else ("custom", {})
    data = _apply(raw, [_parse_override(item) for item in overrides]).get("data", {})
    try:
        return make_converter().structure(data, DataSettings)  # type: ignore[arg-type]
    except ClassValidationError as exc:
        lines = cattrs.transform_error(exc, path="profile.data", format_exception=_format)
        raise ProfileError("\n".join(lines)) from None
    except (ValueError, TypeError) as exc:
        raise ProfileError(f"{exc} @ profile.data") from None


def resolve(raw: dict[str, Any], chosen: Sequence[tuple[str, Any]] = ()) -> dict[str, Any]:
    """A profile file's contents with the embedded scale (when it applies), its [embedded] table
    (likewise) and the ``chosen`` settings (--set) applied, in that order."""
    _tables_are_tables(raw, raw.get("method", "supervised"))
    embedded = raw.pop("embedded", {})
    if not isinstance(embedded, dict):
        raise ProfileError(f"[embedded] must be a table of settings, got {embedded!r} @ profile.embedded")
    embedded_items = _flatten(embedded)
    choices = [*embedded_items, *chosen]
    probe = _apply(copy.deepcopy(raw), choices)
    preset = probe.get("data", {}).get("preset", "demo") if isinstance(probe.get("data"), dict) else "demo"
    data_kind = probe.get("data", {}).get("kind", "synthetic") if isinstance(probe.get("data"), dict) else "synthetic"
    if data_kind != "synthetic" or probe.get("embedded_scale", "auto") != "auto" or preset not in SCALES:
        return _apply(raw, chosen)
    epochs = next((value for key, value in reversed(choices) if key == "train.epochs"), None)
    scale = list(scale_settings(SCALES[preset], probe, epochs if isinstance(epochs, int) else None))
    resolved = _apply(_apply(_apply(raw, scale), embedded_items), chosen)
    resolved["embedded_scale"] = "applied"
    return resolved


def _flatten(table: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``section.key`` items of a nested table, a table's ``kind`` before its other keys."""
    items: list[tuple[str, Any]] = []
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            if "kind" in value:
                items.append((f"{path}.kind", value["kind"]))
            items += _flatten({k: v for k, v in value.items() if k != "kind"}, f"{path}.")
        else:
            items.append((path, value))
    return items


# --- writing -------------------------------------------------------------------------------------


def profile_toml(profile: Profile) -> str:
    """The resolved profile as a TOML file that ``load_profile`` reads back to the same profile
    (its ``embedded_scale`` says whether the scale was applied, so it is not applied twice)."""
    plain = unstructure_profile(profile)
    scalars = {k: v for k, v in plain.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in plain.items() if isinstance(v, dict)}
    lines = [f"{key} = {_toml_value(value)}" for key, value in scalars.items()]
    for name, table in tables.items():
        lines += _toml_table(name, table)
    return "\n".join(lines) + "\n"


def _toml_table(name: str, table: Mapping[str, Any]) -> list[str]:
    values = {k: v for k, v in table.items() if not isinstance(v, dict)}
    lines = ["", f"[{name}]", *(f"{key} = {_toml_value(value)}" for key, value in values.items())]
    for key, value in table.items():
        if isinstance(value, dict):
            lines += _toml_table(f"{name}.{key}", value)
    return lines


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        return repr(value) if abs(value) != float("inf") else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to TOML")
