"""Deterministic procedural video re-ID data: short tracklets of the embedded people, written in the
DukeMTMC-VideoReID layout so that training and tests go through the real video reader.

    out_dir/<domain>/train/0001/0001/0001_C2_F0011_X00000.jpg     <split>/<pid>/<tracklet>/frames
                     query/...   gallery/...   (pid 0000 = distractor tracklets, gallery only)

A tracklet is one person under one camera, 2 to 6 frames (fewer than the video scale's seq_len of
4 for some, so padding is exercised), its frame numbers starting past F0001 (Duke's own tracklets
do, and the reader orders by the number). Every frame is drawn by the image generator's
``render_shot`` from its own (domain, pid, index) seed, so the bytes are a pure function of
(preset, seed). The image presets (``tiny``, ``demo``) are separate and unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np
from attrs import field, frozen, validators

from reidkit.adapters.data.synth import (
    _BACKDROP,
    _BACKDROP_WIDTH,
    JPEG_QUALITY,
    SynthDomain,
    SynthPreset,
    _identities,
    cached_copy,
    _Shot,
    camera_style,
    render_shot,
)
from reidkit.adapters.data.synth_people import sample_appearance
from reidkit.adapters.data.synth_scenes import render_backdrop
from reidkit.domain.errors import DatasetError

GENERATOR_VERSION = "video-1"
MANIFEST = "manifest.json"
SPLITS = ("train", "query", "gallery")
_PLAN, _DISTRACTOR = 101, 102  # seed streams of their own (the image generator's are 1..6)


@frozen
class VideoPreset:
    """Tracklets of ``people``'s domains: per training identity ``train_cameras`` cameras with one
    tracklet each; per test identity 2..``test_cameras`` cameras, the first one's tracklet the
    query and the others gallery; ``distractors`` gallery tracklets of pid 0."""

    people: SynthPreset
    frames: tuple[int, int] = field(default=(2, 6))
    train_cameras: int = field(default=2, validator=validators.ge(1))
    test_cameras: int = field(default=3, validator=validators.ge(2))
    distractors: int = field(default=2, validator=validators.ge(0))

    @property
    def name(self) -> str:
        return self.people.name


@frozen
class _Track:
    split: str
    pid: int
    number: int  # the tracklet's folder number under its pid
    first_frame: int
    shots: tuple[_Shot, ...]


def builtin_video_presets() -> Mapping[str, VideoPreset]:
    """``tiny_video``: 12 training and 6 test identities under 3 cameras, 64x32 frames."""
    tiny = SynthPreset(
        "tiny_video", 64, 32,
        (SynthDomain("source", gap=0.0, pid_base=1, num_train_ids=12, num_test_ids=6, num_cameras=3),),
    )  # fmt: skip
    return MappingProxyType({"tiny_video": VideoPreset(tiny)})


VIDEO_PRESETS: Mapping[str, VideoPreset] = builtin_video_presets()


def plan_tracks(spec: VideoPreset, seed: int) -> tuple[tuple[int, _Track], ...]:
    """(domain index, tracklet) of every tracklet of the preset."""
    people = _identities(spec.people, seed)
    low, high = spec.frames
    tracks: list[tuple[int, _Track]] = []
    for d, domain in enumerate(spec.people.domains):
        for trained, split_pids, cameras_most in (
            (True, domain.train_pids, spec.train_cameras),
            (False, domain.test_pids, spec.test_cameras),
        ):
            for pid in split_pids:
                rng = np.random.default_rng([seed, _PLAN, d, pid])
                most = min(cameras_most, domain.num_cameras)
                count = most if trained else int(rng.integers(2, most + 1))
                cameras = [int(c) for c in rng.choice(domain.num_cameras, size=count, replace=False)]
                index = 0
                for number, camera in enumerate(cameras, start=1):
                    length = int(rng.integers(low, high + 1))
                    split = "train" if trained else ("query" if number == 1 else "gallery")
                    shots = tuple(_Shot(d, camera, pid, index + f, split, people[pid]) for f in range(length))
                    index += length
                    tracks.append((d, _Track(split, pid, number, 1 + 10 * number, shots)))
        for k in range(spec.distractors):
            rng = np.random.default_rng([seed, _DISTRACTOR, d, k])
            camera, person = int(rng.integers(domain.num_cameras)), sample_appearance(rng)
            length = int(rng.integers(low, high + 1))
            shots = tuple(_Shot(d, camera, 0, 100 * k + f, "gallery", person) for f in range(length))
            tracks.append((d, _Track("gallery", 0, k + 1, 1, shots)))
    return tuple(tracks)


def frame_path(domain: str, track: _Track, position: int, shot: _Shot) -> str:
    return (
        f"{domain}/{track.split}/{track.pid:04d}/{track.number:04d}/"
        f"{track.pid:04d}_C{shot.camera + 1}_F{track.first_frame + position:04d}_X{shot.index:05d}.jpg"
    )


def generate_video(spec: VideoPreset, seed: int, out_dir: Path, progress: Callable[[int, int], None] | None = None) -> None:
    """Draws every frame of ``spec`` under ``out_dir`` (in this process: the presets are small)."""
    tracks = plan_tracks(spec, seed)
    people = spec.people
    for domain in people.domains:
        for split in SPLITS:
            (out_dir / domain.name / split).mkdir(parents=True, exist_ok=True)
    by_camera: dict[tuple[int, int], list[tuple[_Track, int, _Shot]]] = {}
    for d, track in tracks:
        for position, shot in enumerate(track.shots):
            by_camera.setdefault((d, shot.camera), []).append((track, position, shot))
    total = sum(len(t.shots) for _, t in tracks)
    done = 0
    h, w = people.height * people.supersample, people.width * people.supersample
    for (d, camera), frames in sorted(by_camera.items(), key=lambda item: item[0]):
        style = camera_style(people, seed, d, camera)
        backdrop = render_backdrop(np.random.default_rng([seed, _BACKDROP, d, camera]), style, h, w * _BACKDROP_WIDTH, w)
        for track, position, shot in frames:
            path = out_dir / frame_path(people.domains[d].name, track, position, shot)
            path.parent.mkdir(parents=True, exist_ok=True)
            render_shot(people, seed, shot, style, backdrop).save(path, format="JPEG", quality=JPEG_QUALITY)
            done += 1
            if progress is not None:
                progress(done, total)


def _manifest(spec: VideoPreset, seed: int) -> dict[str, object]:
    counts: dict[str, dict[str, int]] = {}
    for d, track in plan_tracks(spec, seed):
        split_counts = counts.setdefault(spec.people.domains[d].name, dict.fromkeys(SPLITS, 0))
        split_counts[track.split] += len(track.shots)
    return {
        "generator_version": GENERATOR_VERSION,
        "preset": spec.name,
        "spec_digest": spec.people.digest(),
        "frames": list(spec.frames),
        "seed": int(seed),
        "domains": counts,
    }


def _frames_in(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def _matches(folder: Path, expected: dict) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest != expected:
        return False
    return all(
        _frames_in(folder / domain / split) == count
        for domain, splits in expected["domains"].items()
        for split, count in splits.items()
    )


def ensure_synthetic_video(
    preset: str, seed: int, cache_root: str | Path, *, progress: Callable[[int, int], None] | None = None
) -> dict[str, Path]:
    """The cached copy under ``cache_root/<preset>-seed<seed>/`` (domain name -> its root in the
    DukeMTMC-VideoReID layout), generated into a temporary folder first when missing or stale."""
    if preset not in VIDEO_PRESETS:
        raise DatasetError(f"unknown synthetic video preset {preset!r}; known: {', '.join(sorted(VIDEO_PRESETS))}")
    spec = VIDEO_PRESETS[preset]
    final = Path(cache_root) / f"{spec.name}-seed{seed}"
    cached_copy(
        final,
        _manifest(spec, seed),
        complete=_matches,
        generate=lambda staging: generate_video(spec, seed, staging, progress),
        what="synthetic video dataset",
    )
    return {d.name: final / d.name for d in spec.people.domains}
