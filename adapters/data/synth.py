"""Deterministic procedural re-ID data, written to disk in the Market-1501 layout so that training
and tests go through the real loading path (``read_market``).

    out_dir/<domain>/bounding_box_train/0001_c2s1_000003_00.jpg
                     query/...   bounding_box_test/...   (pid 0000 = distractor, gallery only)

A preset holds several domains (``source``, ``target``) with disjoint identities; a domain's
cameras differ in viewpoint, scene and imaging, and its ``gap`` moves its camera style away from
the source look. Every image is a pure function of (preset, seed) and its own (domain, pid, image
index): it gets its own ``numpy.random.default_rng`` seeded from those, so the bytes do not depend
on the number of worker processes or the order they run in (only on the Pillow/libjpeg build).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from types import MappingProxyType

import attrs
import numpy as np
from attrs import field, frozen, validators
from PIL import Image

from reidkit.adapters.data.market import GALLERY_DIR, QUERY_DIR, TRAIN_DIR
from reidkit.adapters.data.synth_people import Appearance, draw_person, sample_appearance, sample_pose
from reidkit.adapters.data.synth_scenes import (
    CameraStyle,
    add_clutter,
    apply_camera,
    draw_occluder,
    render_backdrop,
    sample_camera_styles,
    view_of,
)
from reidkit.domain.errors import DatasetError

# Bump whenever the drawing or the plan changes: cached copies of an older version are regenerated.
GENERATOR_VERSION = "1"
JPEG_QUALITY = 90
MANIFEST = "manifest.json"
_CHUNK = 48  # images per worker task: small enough to balance, big enough to reuse a backdrop
_BACKDROP_WIDTH = 8  # a camera's scene is this many image widths wide
_PARALLEL_FROM = 600  # fewer images than this are drawn in-process (workers cost a start-up)

# Seed streams: the first word keeps draws for different purposes independent.
_IDENTITY, _IMAGE, _CAMERA, _BACKDROP, _PLAN, _DISTRACTOR = range(1, 7)


def _name(_: object, attribute: attrs.Attribute, value: str) -> None:
    if not value or not value.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"{attribute.name} {value!r} must be a non-empty name of letters, digits, '-' or '_'")


@frozen
class SynthDomain:
    """One domain: its identities, cameras, images per identity and style ``gap``."""

    name: str = field(validator=_name)
    gap: float = field(default=0.0, converter=float, validator=[validators.ge(0.0), validators.le(2.0)])
    pid_base: int = field(default=1, validator=validators.ge(1))
    num_train_ids: int = field(default=16, validator=validators.ge(1))
    num_test_ids: int = field(default=8, validator=validators.ge(1))
    num_cameras: int = field(default=3, validator=[validators.ge(2), validators.le(99)])
    train_images_per_id: int = field(default=4, validator=validators.ge(2))
    test_images_per_id: int = field(default=6, validator=validators.ge(4))
    query_per_camera: int = field(default=1, validator=[validators.ge(1), validators.le(2)])
    num_distractors: int = field(default=0, validator=validators.ge(0))

    def __attrs_post_init__(self) -> None:
        if self.test_images_per_id < 2 * (self.query_per_camera + 1):
            raise ValueError(
                f"domain {self.name}: test_images_per_id={self.test_images_per_id} cannot give two cameras "
                f"{self.query_per_camera} query + 1 gallery image each"
            )
        if self.last_pid > 9999:
            raise ValueError(f"domain {self.name}: pids reach {self.last_pid}, past Market's four digits")

    @property
    def train_pids(self) -> range:
        return range(self.pid_base, self.pid_base + self.num_train_ids)

    @property
    def test_pids(self) -> range:
        return range(self.pid_base + self.num_train_ids, self.last_pid + 1)

    @property
    def last_pid(self) -> int:
        return self.pid_base + self.num_train_ids + self.num_test_ids - 1


def _domains(value: object) -> tuple[SynthDomain, ...]:
    return tuple(value)  # type: ignore[arg-type]


@frozen
class SynthPreset:
    """Image size and the domains to generate (identity ranges must not overlap)."""

    name: str = field(validator=_name)
    height: int = field(validator=validators.ge(16))
    width: int = field(validator=validators.ge(8))
    domains: tuple[SynthDomain, ...] = field(converter=_domains)
    supersample: int = field(default=2, validator=[validators.ge(1), validators.le(4)])

    def __attrs_post_init__(self) -> None:
        if not self.domains:
            raise ValueError(f"preset {self.name} has no domains")
        names = [d.name for d in self.domains]
        if len(set(names)) != len(names):
            raise ValueError(f"preset {self.name} repeats a domain name: {names}")
        spans = sorted((d.pid_base, d.last_pid, d.name) for d in self.domains)
        for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
            if start <= end:
                raise ValueError(f"preset {self.name}: pids of domains {first} and {second} overlap")

    def digest(self) -> str:
        """Short hash of the spec: a cached copy is reused only for exactly this spec."""
        text = json.dumps(attrs.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def builtin_presets() -> Mapping[str, SynthPreset]:
    """``tiny`` for tests (a couple of hundred 64x32 images), ``demo`` for a CPU-sized experiment,
    ``demo_dense`` for a measurement (below).

    ``demo`` also has ``aux``: other people filmed by other cameras in the source's style, used only
    to pre-train a generic backbone, the embedded stand-in for the ImageNet weights the USL papers
    start from (reidkit downloads nothing). Its index comes last, so adding it left the source and
    target images byte-for-byte as they were.
    """

    def pair(target_gap: float, **sizes: int) -> tuple[SynthDomain, SynthDomain]:
        return (
            SynthDomain("source", gap=0.0, pid_base=1, **sizes),
            SynthDomain("target", gap=target_gap, pid_base=5001, **sizes),
        )

    tiny = SynthPreset(
        "tiny", 64, 32,
        pair(1.0, num_train_ids=16, num_test_ids=8, num_cameras=3, train_images_per_id=4,
             test_images_per_id=6, num_distractors=4),
    )
    demo = SynthPreset(
        "demo", 128, 64,
        (
            # Target gap 0.5: at 1.0 the source model's target features were too weakly
            # identity-bearing for any clustering method to improve on them (docs/adaptation.md, "The
            # gap sweep"); at 0.5 direct transfer (52 mAP over 3 seeds) still sits ~30 below the oracle.
            *pair(0.5, num_train_ids=200, num_test_ids=100, num_cameras=5, train_images_per_id=9,
                  test_images_per_id=10, num_distractors=40),
            SynthDomain("aux", gap=0.0, pid_base=8001, num_train_ids=150, num_test_ids=20, num_cameras=5,
                        train_images_per_id=9, test_images_per_id=10),
        ),
    )
    # issue 24's images-per-identity measurement: demo with twice the target's training images per
    # identity (18, Market has ~17). Images are seeded by (seed, domain, pid, index), not by the
    # preset, so its source, aux and target test images are demo's byte for byte.
    target = demo.domains[1]
    dense = attrs.evolve(demo, name="demo_dense", domains=(demo.domains[0], attrs.evolve(target, train_images_per_id=18), demo.domains[2]))
    return MappingProxyType({p.name: p for p in (tiny, demo, dense)})


PRESETS: Mapping[str, SynthPreset] = builtin_presets()


@frozen
class _Shot:
    """One image to draw: who, where, and which split folder it lands in."""

    domain: int
    camera: int  # 0-based; the file name says camera + 1
    pid: int  # 0 = distractor
    index: int  # image number within the pid (the file's frame number)
    split: str
    person: Appearance

    def file_name(self) -> str:
        return f"{self.pid:04d}_c{self.camera + 1}s1_{self.index:06d}_00.jpg"


@frozen
class _Task:
    """A chunk of shots of one camera, drawn by one worker (so it builds the backdrop once)."""

    preset: SynthPreset
    seed: int
    root: str
    shots: tuple[_Shot, ...]
    style_domain: int = -1  # whose cameras film the shots; -1: their own domain's


def generate(
    preset: str | SynthPreset,
    seed: int,
    out_dir: str | Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> dict[str, Path]:
    """Writes every domain of ``preset`` under ``out_dir``; returns domain name -> Market root.

    ``workers`` (default: the available cores for big presets, 1 for small) never changes the bytes.
    """
    spec = resolve_preset(preset)
    out = Path(out_dir)
    roots = {d.name: out / d.name for d in spec.domains}
    for root in roots.values():
        _new_market_folder(root)
    shots = plan_shots(spec, seed)
    tasks = _tasks(spec, seed, out, shots)
    _run(tasks, len(shots), progress, workers)
    return roots


def _new_market_folder(root: Path) -> None:
    """The split folders of a Market layout at ``root``, which must be new or empty."""
    if root.exists() and any(root.iterdir()):
        raise DatasetError(f"synthetic output folder {root} is not empty; refusing to mix datasets")
    for split in (TRAIN_DIR, QUERY_DIR, GALLERY_DIR):
        (root / split).mkdir(parents=True, exist_ok=True)


def render_in_style(
    preset: str | SynthPreset,
    seed: int,
    out_dir: str | Path,
    *,
    domain: str = "source",
    style_of: str = "target",
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> Path:
    """Every image of ``domain`` drawn again as the camera of the same number in ``style_of``
    would have filmed it: the same person and the same random draws, that camera's scene and
    imaging. It is the ideal image translation of ``domain`` into ``style_of``'s look, the bound a
    learned translator approaches (docs/translation.md); with ``style_of == domain`` it gives
    ``domain``'s own images byte for byte. Written in the Market layout under
    ``out_dir/<domain>``, which is returned."""
    spec = resolve_preset(preset)
    names = [d.name for d in spec.domains]
    for role, name in (("domain", domain), ("style_of", style_of)):
        if name not in names:
            raise DatasetError(f"render_in_style: {role} '{name}' is not a domain of preset {spec.name} ({', '.join(names)})")
    index, filmed_by = names.index(domain), names.index(style_of)
    if spec.domains[filmed_by].num_cameras < spec.domains[index].num_cameras:
        raise DatasetError(
            f"render_in_style: {style_of} has {spec.domains[filmed_by].num_cameras} cameras, fewer than the "
            f"{spec.domains[index].num_cameras} of {domain}, so some of its images have no camera to be filmed by"
        )
    root = Path(out_dir) / domain
    _new_market_folder(root)
    shots = tuple(shot for shot in plan_shots(spec, seed) if shot.domain == index)
    tasks = [attrs.evolve(task, style_domain=filmed_by) for task in _tasks(spec, seed, Path(out_dir), shots)]
    _run(tasks, len(shots), progress, workers)
    return root


def ensure_synthetic(
    preset: str | SynthPreset,
    seed: int,
    cache_root: str | Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> dict[str, Path]:
    """The cached copy under ``cache_root/<preset>-seed<seed>/``, generated first if it is missing,
    incomplete or from another generator version. Generation writes into a temporary folder that
    is renamed into place only when complete, so a crash never leaves a half copy that looks whole.
    """
    spec = resolve_preset(preset)
    final = Path(cache_root) / f"{spec.name}-seed{seed}"
    cached_copy(
        final,
        _manifest(spec, seed),
        complete=_matches,
        generate=lambda staging: generate(spec, seed, staging, progress=progress, workers=workers),
        what="synthetic dataset",
    )
    return {d.name: final / d.name for d in spec.domains}


def cached_copy(
    final: Path, expected: dict, *, complete: Callable[[Path, dict], bool], generate: Callable[[Path], object], what: str
) -> None:
    """Makes ``final`` a complete generated copy (every synthetic family's cache: people, video,
    baggage): nothing to do when ``complete(final, expected)``; otherwise ``generate`` writes into
    a temporary folder beside it, the manifest ``expected`` is written last (its presence, with
    matching file counts, marks a copy complete), and the folder is renamed into place, so a crash
    never leaves a half copy that looks whole."""
    if complete(final, expected):
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        generate(staging)
        (staging / MANIFEST).write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
        if not complete(final, expected):  # another process may have finished first
            _replace(staging, final)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    if not complete(final, expected):
        raise DatasetError(f"{what} {final} is still incomplete after generating it")


def resolve_preset(preset: str | SynthPreset) -> SynthPreset:
    if isinstance(preset, SynthPreset):
        return preset
    known = PRESETS
    if preset not in known:
        raise DatasetError(f"unknown synthetic preset {preset!r}; known: {', '.join(sorted(known))}")
    return known[preset]


def is_complete(folder: Path, spec: SynthPreset, seed: int) -> bool:
    """Whether ``folder`` holds this exact (spec, seed, version) with every file it promises."""
    return _matches(folder, _manifest(spec, seed))


def _matches(folder: Path, expected: dict) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if {k: manifest.get(k) for k in ("generator_version", "preset", "spec_digest", "seed")} != {
        k: expected[k] for k in ("generator_version", "preset", "spec_digest", "seed")
    }:
        return False
    for domain, counts in expected["domains"].items():
        for split in (TRAIN_DIR, QUERY_DIR, GALLERY_DIR):
            directory = folder / domain / split
            if not directory.is_dir() or sum(1 for _ in directory.iterdir()) != counts[split]:
                return False
    return True


def plan_shots(spec: SynthPreset, seed: int) -> tuple[_Shot, ...]:
    """Every image of the preset: identities, their cameras and the split of each image."""
    people = _identities(spec, seed)
    shots: list[_Shot] = []
    for d, domain in enumerate(spec.domains):
        for pid in domain.train_pids:
            rng = np.random.default_rng([seed, _PLAN, d, pid])
            counts = _spread(rng, domain.num_cameras, domain.train_images_per_id, minimum=1)
            shots += _shots_of(d, pid, people[pid], counts, lambda _: TRAIN_DIR)
        for pid in domain.test_pids:
            rng = np.random.default_rng([seed, _PLAN, d, pid])
            q = domain.query_per_camera
            counts = _spread(rng, domain.num_cameras, domain.test_images_per_id, minimum=q + 1)
            # The first q images of each camera are queries, the rest gallery: every query has
            # gallery images of its identity in at least one other camera.
            shots += _shots_of(d, pid, people[pid], counts, lambda k: QUERY_DIR if k < q else GALLERY_DIR)
        for k in range(domain.num_distractors):
            rng = np.random.default_rng([seed, _DISTRACTOR, d, k])
            camera = int(rng.integers(domain.num_cameras))
            shots.append(_Shot(d, camera, 0, k, GALLERY_DIR, sample_appearance(rng)))
    return tuple(shots)


def _identities(spec: SynthPreset, seed: int) -> dict[int, Appearance]:
    """One appearance per pid of every domain, no two sharing the same coarse combination (until
    the palettes run out): similar-looking people exist, identical twins do not."""
    people: dict[int, Appearance] = {}
    taken: set[tuple[object, ...]] = set()
    for domain in spec.domains:
        for pid in (*domain.train_pids, *domain.test_pids):
            for attempt in range(50):
                person = sample_appearance(np.random.default_rng([seed, _IDENTITY, pid, attempt]))
                if person.key() not in taken:
                    break
            taken.add(person.key())
            people[pid] = person
    return people


def _spread(rng: np.random.Generator, cameras: int, images: int, *, minimum: int) -> dict[int, int]:
    """Images per camera: 2..cameras cameras (as many as ``minimum`` allows), each >= minimum."""
    most = min(cameras, images // minimum)
    chosen = np.sort(rng.choice(cameras, size=int(rng.integers(2, most + 1)), replace=False))
    extra = rng.multinomial(images - minimum * len(chosen), np.full(len(chosen), 1.0 / len(chosen)))
    return {int(c): minimum + int(e) for c, e in zip(chosen, extra, strict=True)}


def _shots_of(
    d: int, pid: int, person: Appearance, counts: dict[int, int], split_of: Callable[[int], str]
) -> list[_Shot]:
    shots, index = [], 0
    for camera, count in counts.items():
        for k in range(count):
            shots.append(_Shot(d, camera, pid, index, split_of(k), person))
            index += 1
    return shots


def _tasks(spec: SynthPreset, seed: int, out: Path, shots: tuple[_Shot, ...]) -> list[_Task]:
    by_camera: dict[tuple[int, int], list[_Shot]] = {}
    for shot in shots:
        by_camera.setdefault((shot.domain, shot.camera), []).append(shot)
    return [
        _Task(spec, seed, str(out), tuple(group[i : i + _CHUNK]))
        for _, group in sorted(by_camera.items())
        for i in range(0, len(group), _CHUNK)
    ]


def _run(tasks: list[_Task], total: int, progress: Callable[[int, int], None] | None, workers: int | None) -> None:
    count = workers if workers is not None else (_available_cores() if total >= _PARALLEL_FROM else 1)
    done = 0
    if count <= 1 or len(tasks) <= 1:
        for task in tasks:
            done += draw_task(task)
            if progress is not None:
                progress(done, total)
        return
    # fork where there is one: spawn would re-run an unguarded calling script in every worker.
    # The workers only run numpy and PIL (no BLAS, no OpenMP), like DataLoader's forked workers.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with ProcessPoolExecutor(max_workers=min(count, len(tasks)), mp_context=context) as pool:
        futures = [pool.submit(draw_task, task) for task in tasks]
        try:
            for future in as_completed(futures):
                done += future.result()
                if progress is not None:
                    progress(done, total)
        except BaseException:
            # Stop drawing now (an interrupt or a failed task), not after every queued task.
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def draw_task(task: _Task) -> int:
    """Draws and writes the task's images; returns how many."""
    spec, seed = task.preset, task.seed
    first = task.shots[0]
    domain = spec.domains[first.domain]
    filmed_by = first.domain if task.style_domain < 0 else task.style_domain
    style = camera_style(spec, seed, filmed_by, first.camera)
    h, w = spec.height * spec.supersample, spec.width * spec.supersample
    backdrop = render_backdrop(
        np.random.default_rng([seed, _BACKDROP, filmed_by, first.camera]), style, h, w * _BACKDROP_WIDTH, w
    )
    for shot in task.shots:
        image = render_shot(spec, seed, shot, style, backdrop)
        path = Path(task.root) / domain.name / shot.split / shot.file_name()
        image.save(path, format="JPEG", quality=JPEG_QUALITY)
    return len(task.shots)


def camera_style(spec: SynthPreset, seed: int, domain: int, camera: int) -> CameraStyle:
    """Camera ``camera`` of domain number ``domain`` (its cameras are drawn together, stratified)."""
    spec_domain = spec.domains[domain]
    rng = np.random.default_rng([seed, _CAMERA, domain])
    return sample_camera_styles(rng, spec_domain.gap, spec_domain.num_cameras)[camera]


def render_shot(spec: SynthPreset, seed: int, shot: _Shot, style: CameraStyle, backdrop: Image.Image) -> Image.Image:
    """One image: a window of the camera's scene, the person in a random pose, maybe an
    occluder, then the camera's imaging; drawn at ``supersample`` x and reduced (anti-aliasing)."""
    rng = np.random.default_rng([seed, _IMAGE, shot.domain, shot.pid, shot.index])
    s = spec.supersample
    h, w = spec.height * s, spec.width * s
    left = int(rng.integers(0, backdrop.width - w + 1))
    canvas = backdrop.crop((left, 0, left + w, h))
    pose = sample_pose(rng, view_of(rng, style))
    height = h * rng.uniform(*style.scale)
    top = (h - height) * rng.uniform(0.2, 0.8)
    cx = w / 2 + w * rng.uniform(-0.09, 0.09)
    add_clutter(canvas, rng)
    draw_person(canvas, shot.person, pose, cx=cx, top=top, height=height)
    if rng.random() < style.occlusion:
        draw_occluder(canvas, rng)
    if s > 1:
        canvas = canvas.reduce(s)
    return apply_camera(canvas, style, rng)


def _manifest(spec: SynthPreset, seed: int) -> dict[str, object]:
    domains: dict[str, dict[str, int]] = {}
    for shot in plan_shots(spec, seed):
        counts = domains.setdefault(spec.domains[shot.domain].name, {TRAIN_DIR: 0, QUERY_DIR: 0, GALLERY_DIR: 0})
        counts[shot.split] += 1
    for domain in spec.domains:
        domains[domain.name]["train_ids"] = domain.num_train_ids
        domains[domain.name]["test_ids"] = domain.num_test_ids
    return {
        "generator_version": GENERATOR_VERSION,
        "preset": spec.name,
        "spec_digest": spec.digest(),
        "seed": int(seed),
        "image_size": [spec.height, spec.width],
        "domains": domains,
    }


def _replace(staging: Path, final: Path) -> None:
    """Moves ``staging`` to ``final``; an existing (incomplete or outdated) ``final`` is moved
    aside first, since a directory cannot be renamed onto a non-empty one."""
    if final.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
        os.replace(final, trash / final.name)
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.replace(staging, final)
    except OSError:
        # Another process finished the same copy first; its copy is as good as ours.
        if not final.exists():
            raise
