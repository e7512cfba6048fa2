"""Deterministic procedural baggage re-ID data in the MVB layout (issue 21): bags drawn from
their material, shape and accessories, each photographed from several views on two sides, the
gallery by a clean baggage-handling rig and the probe at a cluttered checkpoint.

    out_dir/mvb/bounding_box_train/0001_g_1.jpg   all images of the training bags, both sides
               query/0301_p_2.jpg                 probe images of the test bags
               bounding_box_test/0301_g_1.jpg     gallery images of the test bags
               Info/train.json  Info/val_gallery.json  Info/val_probe.json   the release's metadata
               boxes.json                         {split folder: {file: [x1, y1, x2, y2]}}
               masks/<split folder>/<stem>.png    8-bit L, 255 = the bag's visible pixels

``<id>_<g|p>_<view>.jpg``: id from 1, ``g`` the gallery side (views 1..3: the handling system's
cameras), ``p`` the probe side (views 1..4: the checkpoint's). A box is half-open pixel
coordinates of the whole bag in the final image (occluded parts included, clipped to the frame):
columns x1..x2-1, rows y1..y2-1. A mask leaves out whatever covers the bag, so it lies inside the
box. Materials are the release's labels: hard, soft, paperboard, others.

A bag (``BaggageAppearance``, fixed per identity) is a box of its proportions whose faces carry
textures drawn from its material (ribbed shells, stitched fabric with pockets, taped and printed
board, duffels and backpacks with straps) plus accessories (stickers, a tag, a belt strap,
wheels, handles); a view (``BagView``, per image) turns it (yaw, pitch, roll) and places it. The
two sides differ as domains: gallery images show the bag centred on a plain belt under even
light; probe images show it anywhere on varied floors and tables, beside trays, other bags and
people, under uneven, tinted light, blurred and noisier, sometimes partly covered by a hand, a
strap or a tray rim.

Every image is a pure function of (preset, seed) and its own (id, side, view), drawn from its
own ``numpy.random.default_rng``, so the bytes do not depend on the number of worker processes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from types import MappingProxyType

import attrs
import numpy as np
from attrs import field, frozen, validators
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from reidkit.adapters.data.market import GALLERY_DIR, QUERY_DIR, TRAIN_DIR
from reidkit.adapters.data.synth import _available_cores, cached_copy
from reidkit.domain.errors import DatasetError

# Bump whenever the drawing or the plan changes: cached copies of an older version are regenerated.
GENERATOR_VERSION = "baggage-1"
JPEG_QUALITY = 90
MANIFEST = "manifest.json"
BOXES = "boxes.json"
MASKS = "masks"
INFO = "Info"
DOMAIN = "mvb"
SPLITS = (TRAIN_DIR, QUERY_DIR, GALLERY_DIR)
INFO_FILES = {"train": "train.json", "gallery": "val_gallery.json", "probe": "val_probe.json"}
MATERIALS = ("hard", "soft", "paperboard", "others")
_MATERIAL_P = (0.36, 0.28, 0.16, 0.20)
_PARALLEL_FROM = 600
_CHUNK = 40  # images per worker task
# Seed streams of their own (the people generator's are 1..6, the video's 101..102).
_IDENTITY, _IMAGE, _PLAN = 201, 202, 203

Color = tuple[int, int, int]

HARD = (
    (25, 25, 28), (62, 64, 68), (176, 179, 183), (30, 40, 86), (168, 30, 36), (22, 118, 124), (226, 226, 220),
    (204, 180, 130), (224, 140, 166), (100, 56, 130), (40, 92, 56), (222, 112, 32), (110, 166, 212),
)  # fmt: skip
SOFT = ((22, 22, 25), (28, 36, 72), (86, 88, 92), (96, 66, 42), (112, 30, 42), (86, 92, 50), (40, 76, 150), (160, 146, 106), (160, 36, 40))
PAPER = ((182, 140, 94), (150, 110, 70), (202, 170, 126), (216, 212, 200), (152, 150, 146))
OTHERS = (
    (24, 24, 26), (190, 40, 40), (40, 80, 170), (80, 96, 56), (226, 122, 36), (110, 60, 140), (120, 122, 126),
    (222, 190, 40), (220, 110, 150), (50, 140, 72),
)  # fmt: skip
PALETTES = {"hard": HARD, "soft": SOFT, "paperboard": PAPER, "others": OTHERS}
TRIM = ((20, 20, 22), (96, 98, 102), (232, 232, 228), (200, 36, 40), (232, 200, 40), (40, 90, 200), (236, 130, 30), (180, 182, 186))
STICKER = ((240, 240, 236), (214, 40, 40), (240, 206, 40), (40, 150, 70), (40, 90, 200), (240, 140, 30), (230, 120, 170))
SKIN = ((236, 196, 160), (198, 140, 100), (141, 85, 56), (255, 219, 180))

SHAPES = {"hard": ("upright",), "soft": ("upright", "holdall"), "paperboard": ("box",), "others": ("duffel", "backpack", "wrapped")}
PATTERNS = {
    "hard": ("ribs_v", "ribs_h", "grooves", "plain", "diamond"),
    "soft": ("plain", "twill", "quilted"),
    "paperboard": ("plain",),
    "others": ("plain", "panels"),
}
MARKS = ("arrows", "label", "logo", "text", "fragile")
FACES = ("front", "back", "left", "right", "top")


@frozen
class Sticker:
    face: str
    x: float  # centre, as fractions of the face
    y: float
    size: float  # fraction of the face's shorter side
    color: Color
    kind: str  # circle | rect | stripe


@frozen
class BaggageAppearance:
    """What stays the same for one bag in every image. Dimensions in units of the bag's height."""

    material: str
    shape: str  # upright | holdall | box | duffel | backpack | wrapped
    width: float
    height: float
    depth: float
    corner: float  # corner radius as a fraction of a face's shorter side
    color: Color
    trim: Color  # piping, corner guards, pockets, straps, tape, print
    pattern: str
    count: int  # ribs, grooves, quilting rows or pockets
    marks: tuple[str, ...]  # paperboard prints
    tape: Color
    stickers: tuple[Sticker, ...]
    tag: Color | None
    strap: tuple[Color, float] | None  # a luggage belt's colour and where it crosses (fraction of the width)
    wheels: int  # 0, 2 or 4
    handle: Color
    texture_seed: int

    def key(self) -> tuple[object, ...]:
        """The coarse combination that should single a bag out."""
        palette = PALETTES[self.material]
        return (
            self.material, self.shape, _nearest(self.color, palette), self.pattern, len(self.stickers) > 0,
            self.tag is not None, self.strap is not None, self.wheels, self.marks, self.count if self.material == "paperboard" else 0,
            self.tape if self.material == "paperboard" else None,
        )  # fmt: skip


@frozen
class BagView:
    """How one image shows a bag: rotation (degrees), size (largest extent / frame) and centre (fraction of the frame)."""

    yaw: float
    pitch: float
    roll: float
    scale: float
    cx: float
    cy: float


def sample_baggage(rng: np.random.Generator) -> BaggageAppearance:
    """A random bag; palette colours get a small per-bag shade so twins are rare."""
    material = MATERIALS[int(rng.choice(len(MATERIALS), p=_MATERIAL_P))]
    shapes = SHAPES[material]
    shape = shapes[int(rng.integers(len(shapes)))]
    if shape in ("upright", "wrapped"):
        w, h, d = rng.uniform(0.62, 0.78), 1.0, rng.uniform(0.32, 0.46)
    elif shape == "holdall":
        w, h, d = rng.uniform(1.3, 1.7), 1.0, rng.uniform(0.5, 0.7)
    elif shape == "box":
        w, h, d = rng.uniform(0.9, 1.6), 1.0, rng.uniform(0.6, 1.2)
    elif shape == "duffel":
        w, h, d = rng.uniform(1.8, 2.4), 1.0, rng.uniform(0.85, 1.0)
    else:  # backpack
        w, h, d = rng.uniform(0.66, 0.8), 1.0, rng.uniform(0.3, 0.4)
    corner = {"hard": rng.uniform(0.08, 0.16), "soft": rng.uniform(0.14, 0.24), "paperboard": 0.0}.get(material, 0.12)
    palette = PALETTES[material]
    base = palette[int(rng.integers(len(palette)))]
    trim = TRIM[int(rng.integers(len(TRIM)))]
    patterns = PATTERNS[material]
    pattern = patterns[int(rng.integers(len(patterns)))]
    count = int(rng.integers(3, 9)) if material == "hard" else int(rng.integers(0, 3))
    marks: tuple[str, ...] = ()
    if material == "paperboard":
        chosen = rng.choice(len(MARKS), size=int(rng.integers(1, 4)), replace=False)
        marks = tuple(MARKS[i] for i in sorted(chosen))
    tape = ((170, 130, 80), (222, 214, 190), (236, 236, 232), (214, 60, 50))[int(rng.integers(4))]
    stickers = tuple(_sticker(rng, material) for _ in range(int(rng.choice(4, p=(0.35, 0.35, 0.2, 0.1)))))
    tag = TRIM[int(rng.integers(len(TRIM)))] if rng.random() < 0.4 and material != "paperboard" else None
    strap = None
    if material in ("hard", "soft") and rng.random() < 0.3:
        strap = (STICKER[int(rng.integers(len(STICKER)))], float(rng.uniform(0.3, 0.7)))
    if shape in ("upright", "wrapped"):
        wheels = 4 if rng.random() < 0.7 else 2
    elif shape in ("duffel", "holdall"):
        wheels = 2 if rng.random() < 0.2 else 0
    else:
        wheels = 0
    return BaggageAppearance(
        material=material, shape=shape, width=float(w), height=float(h), depth=float(d), corner=float(corner),
        color=_shade(base, rng, 4.0 if material == "paperboard" else 10.0), trim=_shade(trim, rng, 8.0), pattern=pattern, count=count, marks=marks,
        tape=tape, stickers=stickers, tag=tag, strap=strap, wheels=wheels,
        handle=((20, 20, 22), (70, 72, 76), trim)[int(rng.integers(3))], texture_seed=int(rng.integers(2**31)),
    )  # fmt: skip


def _sticker(rng: np.random.Generator, material: str) -> Sticker:
    face = ("front", "front", "front", "left", "right", "top", "back")[int(rng.integers(7))]
    return Sticker(
        face=face,
        x=float(rng.uniform(0.2, 0.8)),
        y=float(rng.uniform(0.2, 0.8)),
        size=float(rng.uniform(0.14, 0.3) if material != "paperboard" else rng.uniform(0.1, 0.2)),
        color=STICKER[int(rng.integers(len(STICKER)))],
        kind=("circle", "rect", "stripe")[int(rng.integers(3))],
    )


# Each side's cameras: view number -> nominal (yaw, pitch) in degrees. The handling system's rig
# looks from above, from the front and from the side; the checkpoint's from four corners.
GALLERY_VIEWS = {1: (0.0, 65.0), 2: (-25.0, 25.0), 3: (60.0, 30.0)}
PROBE_VIEWS = {1: (-40.0, 35.0), 2: (35.0, 40.0), 3: (105.0, 30.0), 4: (200.0, 45.0)}


def sample_view(rng: np.random.Generator, side: str, view: int) -> BagView:
    """The ``view``-th camera of ``side`` ("g" or "p"): fixed and centred in the gallery rig,
    loose at the checkpoint (bags put down anyhow, near or far, off-centre)."""
    if side == "g":
        yaw, pitch = GALLERY_VIEWS[view]
        return BagView(
            yaw=yaw + rng.uniform(-6, 6), pitch=pitch + rng.uniform(-5, 5), roll=rng.uniform(-4, 4),
            scale=rng.uniform(0.66, 0.76), cx=0.5 + rng.uniform(-0.03, 0.03), cy=0.5 + rng.uniform(-0.03, 0.03),
        )  # fmt: skip
    yaw, pitch = PROBE_VIEWS[view]
    return BagView(
        yaw=yaw + rng.uniform(-18, 18), pitch=pitch + rng.uniform(-10, 10), roll=rng.uniform(-22, 22),
        scale=rng.uniform(0.46, 0.74), cx=0.5 + rng.uniform(-0.13, 0.13), cy=0.5 + rng.uniform(-0.13, 0.13),
    )  # fmt: skip


# --- drawing a bag -------------------------------------------------------------------------------


class _Face:
    """A face texture: RGBA, drawn in fractions of the face (0..1 across, 0..1 down)."""

    def __init__(self, width: int, height: int, color: Color) -> None:
        self.w, self.h = width, height
        self.image = Image.new("RGBA", (width, height), (*color, 0))
        self.draw = ImageDraw.Draw(self.image)

    def px(self, x: float, y: float) -> tuple[float, float]:
        return (x * self.w, y * self.h)

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: Color, radius: float = 0.0) -> None:
        box = (*self.px(x0, y0), *self.px(x1, y1))
        if radius > 0:
            self.draw.rounded_rectangle(box, radius=radius * min(self.w, self.h), fill=(*color, 255))
        else:
            self.draw.rectangle(box, fill=(*color, 255))

    def ellipse(self, x: float, y: float, rx: float, ry: float, color: Color) -> None:
        self.draw.ellipse((*self.px(x - rx, y - ry), *self.px(x + rx, y + ry)), fill=(*color, 255))

    def line(self, points: Sequence[tuple[float, float]], color: Color, width: float) -> None:
        self.draw.line([self.px(x, y) for x, y in points], fill=(*color, 255), width=max(1, round(width * min(self.w, self.h))))

    def dashed(self, a: tuple[float, float], b: tuple[float, float], color: Color, width: float, dashes: int) -> None:
        for k in range(dashes):
            t0, t1 = k / dashes, (k + 0.55) / dashes
            self.line([(a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0), (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)], color, width)

    def clip_to(self, alpha: Image.Image) -> Image.Image:
        out = self.image.copy()
        out.putalpha(alpha)
        return out


def _face_size(bag: BaggageAppearance, face: str) -> tuple[float, float]:
    if face in ("front", "back"):
        return bag.width, bag.height
    if face in ("left", "right"):
        return bag.depth, bag.height
    return bag.width, bag.depth


def _silhouette(bag: BaggageAppearance, face: str, w: int, h: int) -> Image.Image:
    """The face's outline as an L mask: rounded shells, square boxes, round duffel ends."""
    alpha = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(alpha)
    box = (0, 0, w - 1, h - 1)
    short = min(w, h)
    if bag.shape == "box":
        draw.rectangle(box, fill=255)
    elif bag.shape == "duffel":
        if face in ("left", "right"):
            draw.ellipse(box, fill=255)
        else:
            draw.rounded_rectangle(box, radius=0.48 * short, fill=255)
    elif bag.shape == "backpack":
        if face == "top":
            draw.rounded_rectangle(box, radius=0.45 * short, fill=255)
        else:
            draw.rounded_rectangle(box, radius=0.42 * min(w, h * 0.6), fill=255, corners=(True, True, False, False))
            draw.rounded_rectangle(box, radius=0.1 * short, fill=255, corners=(False, False, True, True))
            draw.rectangle((0, h * 0.4, w - 1, h * 0.9), fill=255)
    else:
        radius = bag.corner * short * (1.0 if face in ("front", "back") else 0.5)
        draw.rounded_rectangle(box, radius=radius, fill=255)
    return alpha


@functools.lru_cache(maxsize=16)
def face_textures(bag: BaggageAppearance, resolution: int) -> Mapping[str, Image.Image]:
    """RGBA textures of the bag's five visible faces at ``resolution`` pixels per unit (a pure
    function of the bag: the fabric and board grain come from its ``texture_seed``)."""
    rng = np.random.default_rng([bag.texture_seed, resolution])
    out = {}
    for face in FACES:
        fw, fh = _face_size(bag, face)
        w, h = max(4, round(fw * resolution)), max(4, round(fh * resolution))
        tex = _Face(w, h, bag.color)
        tex.rect(0, 0, 1, 1, bag.color)
        _material(tex, bag, face, rng)
        for sticker in bag.stickers:
            if sticker.face == face:
                _draw_sticker(tex, sticker)
        alpha = _silhouette(bag, face, w, h)
        image = tex.clip_to(alpha)
        # the edge: a darker rim inside the outline
        rim = ImageChops.subtract(alpha, alpha.filter(ImageFilter.MinFilter(3 if min(w, h) < 60 else 5)))
        image.paste((*_darker(bag.color, 0.55), 255), mask=rim)
        image.putalpha(alpha)
        out[face] = image
    return MappingProxyType(out)


def _grain(tex: _Face, rng: np.random.Generator, spread: float, streak: bool) -> None:
    """Fabric or board grain: per-pixel noise (streaky for board fibres)."""
    if streak:
        noise = rng.normal(0.0, spread, (tex.h, 1)) + rng.normal(0.0, spread * 0.5, (tex.h, tex.w))
    else:
        noise = rng.normal(0.0, spread, (tex.h, tex.w))
    pixels = np.asarray(tex.image, dtype=np.float32).copy()
    pixels[..., :3] += noise[..., None].astype(np.float32)
    tex.image.paste(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGBA"))


def _material(tex: _Face, bag: BaggageAppearance, face: str, rng: np.random.Generator) -> None:
    dark, light = _darker(bag.color, 0.62), _lighter(bag.color, 0.35)
    panel = face in ("front", "back")
    if bag.material == "hard" or bag.shape == "wrapped":
        if panel:
            if bag.pattern == "ribs_v":
                for k in range(bag.count):
                    x = 0.12 + 0.76 * (k + 0.5) / bag.count
                    tex.line([(x, 0.06), (x, 0.94)], dark, 0.025)
                    tex.line([(x + 0.02, 0.06), (x + 0.02, 0.94)], light, 0.012)
            elif bag.pattern == "ribs_h":
                for k in range(bag.count):
                    y = 0.1 + 0.8 * (k + 0.5) / bag.count
                    tex.line([(0.05, y), (0.95, y)], dark, 0.022)
            elif bag.pattern == "grooves":
                for x in (0.3, 0.7):
                    tex.rect(x - 0.04, 0.05, x + 0.04, 0.95, dark)
            elif bag.pattern == "diamond":
                for k in range(-2, 3):
                    tex.line([(0.5 + 0.3 * k, 0.0), (0.5 + 0.3 * k + 0.6, 1.0)], dark, 0.018)
                    tex.line([(0.5 + 0.3 * k, 0.0), (0.5 + 0.3 * k - 0.6, 1.0)], dark, 0.018)
            tex.rect(0.18, 0.0, 0.26, 1.0, _lighter(bag.color, 0.22))  # the shell's sheen
            for x, y in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)):  # corner guards
                tex.ellipse(x, y, 0.12, 0.08, bag.trim)
            if face == "back":  # the trolley handle's rails
                for x in (0.3, 0.7):
                    tex.rect(x - 0.025, 0.0, x + 0.025, 0.65, (150, 152, 156))
        elif face in ("left", "right"):
            tex.line([(0.5, 0.0), (0.5, 1.0)], _darker(bag.color, 0.4), 0.08)  # the zip between the shells
            tex.rect(0.3, 0.38, 0.7, 0.5, bag.handle, radius=0.1)
        else:
            tex.line([(0.0, 0.5), (1.0, 0.5)], _darker(bag.color, 0.4), 0.08)
            tex.rect(0.3, 0.3, 0.7, 0.7, bag.handle, radius=0.3)  # the top handle
            tex.rect(0.2, 0.05, 0.8, 0.22, (110, 112, 116))  # the telescopic handle's housing
        if bag.shape == "wrapped":  # stretched film: pale streaks across the shell
            for k in range(6):
                y0 = rng.uniform(-0.3, 1.0)
                tex.line([(0.0, y0), (1.0, y0 + rng.uniform(0.1, 0.5))], _mix(bag.color, (235, 240, 240), 0.45), 0.06)
            tex.line([(0.0, 0.2), (1.0, 0.85)], (240, 242, 242), 0.015)
    elif bag.material == "soft":
        _grain(tex, rng, 9.0 if bag.pattern != "plain" else 5.0, streak=bag.pattern == "twill")
        tex.dashed((0.06, 0.06), (0.94, 0.06), dark, 0.012, 9)
        tex.dashed((0.06, 0.94), (0.94, 0.94), dark, 0.012, 9)
        if bag.pattern == "quilted" and panel:
            for k in range(1, 4):
                tex.line([(0.05, k / 4), (0.95, k / 4)], dark, 0.012)
        if face == "front":
            for k in range(bag.count):  # front pockets, each with its zip
                y0 = 0.18 + 0.4 * k
                tex.rect(0.14, y0, 0.86, y0 + 0.32, _darker(bag.color, 0.82), radius=0.08)
                tex.line([(0.18, y0 + 0.04), (0.82, y0 + 0.04)], bag.trim, 0.02)
            tex.rect(0.0, 0.0, 0.04, 1.0, bag.trim)  # piping
            tex.rect(0.96, 0.0, 1.0, 1.0, bag.trim)
        elif face == "back":
            for x in (0.3, 0.7):
                tex.rect(x - 0.025, 0.0, x + 0.025, 0.65, (60, 62, 66))
        elif face == "top":
            tex.rect(0.28, 0.32, 0.72, 0.68, bag.handle, radius=0.3)  # webbing handle
        else:
            tex.dashed((0.5, 0.02), (0.5, 0.98), bag.trim, 0.03, 12)  # the expansion zip
            tex.rect(0.25, 0.4, 0.75, 0.52, bag.handle, radius=0.1)
    elif bag.material == "paperboard":
        _grain(tex, rng, 6.0, streak=True)
        tape = _mix(bag.tape, bag.color, 0.25) if bag.tape == (170, 130, 80) else bag.tape
        if face == "top":
            tex.line([(0.0, 0.5), (1.0, 0.5)], _darker(bag.color, 0.6), 0.02)  # the flaps meet
            tex.rect(0.0, 0.38, 1.0, 0.62, tape)
        elif face in ("left", "right"):
            tex.rect(0.38, 0.0, 0.62, 0.3, tape)  # the tape folds down the ends
            if "arrows" in bag.marks:
                for x in (0.3, 0.7):
                    tex.line([(x, 0.75), (x, 0.45)], (30, 30, 30), 0.05)
                    tex.draw.polygon([tex.px(x - 0.1, 0.5), tex.px(x + 0.1, 0.5), tex.px(x, 0.38)], fill=(30, 30, 30, 255))
        elif face == "front":
            if "label" in bag.marks:
                tex.rect(0.55, 0.55, 0.92, 0.85, (240, 240, 236))
                for k in range(9):
                    x = 0.6 + 0.035 * k
                    tex.line([(x, 0.6), (x, 0.72)], (20, 20, 20), 0.012 + 0.01 * (k % 3 == 0))
            if "logo" in bag.marks:
                tex.ellipse(0.28, 0.35, 0.13, 0.13, bag.trim)
                tex.ellipse(0.28, 0.35, 0.07, 0.07, bag.color)
            if "text" in bag.marks:
                for k in range(3):
                    tex.rect(0.1, 0.62 + 0.08 * k, 0.1 + rng.uniform(0.25, 0.4), 0.66 + 0.08 * k, (40, 40, 44))
            if "fragile" in bag.marks:
                tex.rect(0.1, 0.1, 0.5, 0.24, (214, 40, 40))
                tex.rect(0.14, 0.14, 0.46, 0.2, (240, 240, 236))
            if bag.count == 2:  # H-taped: a second strip down the front
                tex.rect(0.44, 0.0, 0.56, 1.0, tape)
    else:  # others: duffels and backpacks
        _grain(tex, rng, 5.0, streak=False)
        if bag.shape == "duffel":
            if face in ("front", "back"):
                for x in (0.3, 0.7):  # the carrying straps run over the bag
                    tex.rect(x - 0.04, 0.0, x + 0.04, 1.0, bag.trim)
                if face == "front" and bag.pattern == "panels":
                    tex.rect(0.05, 0.55, 0.95, 0.75, _darker(bag.color, 0.7))
            elif face == "top":
                tex.dashed((0.06, 0.5), (0.94, 0.5), (30, 30, 30), 0.08, 14)
                for x in (0.3, 0.7):
                    tex.rect(x - 0.04, 0.0, x + 0.04, 1.0, bag.trim)
            else:
                tex.ellipse(0.5, 0.5, 0.36, 0.36, bag.trim)
                tex.ellipse(0.5, 0.5, 0.12, 0.12, _lighter(bag.trim, 0.4))
        else:  # backpack
            if face == "front":
                tex.rect(0.12, 0.48, 0.88, 0.95, _darker(bag.color, 0.78), radius=0.2)  # the front pocket
                tex.line([(0.16, 0.54), (0.84, 0.54)], bag.trim, 0.025)
                tex.line([(0.2, 0.22), (0.8, 0.22)], (30, 30, 30), 0.02)
            elif face == "back":
                tex.rect(0.12, 0.12, 0.88, 0.9, _darker(bag.color, 0.7))
                for x in (0.3, 0.7):  # shoulder straps
                    tex.rect(x - 0.07, 0.08, x + 0.07, 0.92, (28, 28, 30), radius=0.3)
            elif face in ("left", "right"):
                tex.rect(0.1, 0.55, 0.9, 0.95, _lighter(bag.trim, 0.25))  # the bottle pocket
            else:
                tex.rect(0.4, 0.3, 0.6, 0.7, bag.handle, radius=0.3)
    if bag.strap is not None and face in ("front", "back", "top"):
        color, where = bag.strap
        x = where if face != "back" else 1.0 - where
        tex.rect(x - 0.05, 0.0, x + 0.05, 1.0, color)
        if face == "front":
            tex.rect(x - 0.07, 0.45, x + 0.07, 0.55, (150, 152, 156))  # the buckle


def _draw_sticker(tex: _Face, sticker: Sticker) -> None:
    aspect = tex.w / tex.h
    rx = sticker.size / 2 / max(aspect, 1.0)
    ry = sticker.size / 2 * min(aspect, 1.0)
    if sticker.kind == "circle":
        tex.ellipse(sticker.x, sticker.y, rx, ry, sticker.color)
        tex.ellipse(sticker.x, sticker.y, rx * 0.45, ry * 0.45, _darker(sticker.color, 0.6))
    elif sticker.kind == "rect":
        tex.rect(sticker.x - rx, sticker.y - ry * 0.7, sticker.x + rx, sticker.y + ry * 0.7, sticker.color)
        tex.rect(sticker.x - rx, sticker.y - ry * 0.7, sticker.x + rx, sticker.y - ry * 0.2, _darker(sticker.color, 0.55))
    else:  # an airline stripe label
        tex.rect(sticker.x - rx * 1.6, sticker.y - ry * 0.3, sticker.x + rx * 1.6, sticker.y + ry * 0.3, sticker.color)


def _face_frame(bag: BaggageAppearance, face: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(corner, across, down, normal) of a face in bag coordinates (x right, y up, z to the
    viewer of the front): the texture's top-left corner, its x and y edges and the outward normal."""
    w, h, d = bag.width / 2, bag.height / 2, bag.depth / 2
    frames = {
        "front": ((-w, h, d), (2 * w, 0, 0), (0, -2 * h, 0), (0, 0, 1)),
        "back": ((w, h, -d), (-2 * w, 0, 0), (0, -2 * h, 0), (0, 0, -1)),
        "right": ((w, h, d), (0, 0, -2 * d), (0, -2 * h, 0), (1, 0, 0)),
        "left": ((-w, h, -d), (0, 0, 2 * d), (0, -2 * h, 0), (-1, 0, 0)),
        "top": ((-w, h, -d), (2 * w, 0, 0), (0, 0, 2 * d), (0, 1, 0)),
    }
    return tuple(np.asarray(v, dtype=np.float64) for v in frames[face])  # type: ignore[return-value]


def _rotation(view: BagView) -> np.ndarray:
    yaw, pitch, roll = (math.radians(a) for a in (view.yaw, view.pitch, view.roll))
    cy, sy, cp, sp, cr, sr = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch), math.cos(roll), math.sin(roll)
    turn = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    tilt = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])  # the top comes toward the camera
    spin = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return spin @ tilt @ turn


def _wheel_points(bag: BaggageAppearance) -> list[np.ndarray]:
    w, d, y = bag.width / 2 - 0.07, bag.depth / 2 - 0.06, -bag.height / 2 - 0.04
    if bag.wheels == 4:
        spots = [(-w, d), (w, d), (-w, -d), (w, -d)]
    elif bag.wheels == 2:
        spots = [(-w, -d), (w, -d)]
    else:
        spots = []
    return [np.array([x, y, z]) for x, z in spots]


@frozen
class _Light:
    direction: tuple[float, float, float]  # toward the light, camera space (x right, y up, z to the camera)
    ambient: float
    diffuse: float


def draw_bag(
    canvas: Image.Image, mask: Image.Image, bag: BaggageAppearance, view: BagView, light: _Light, *, shadow: float = 0.45
) -> None:
    """Draws ``bag`` into ``canvas`` (RGB, in place) as ``view`` shows it, and its pixels into
    ``mask`` (L, in place; 255 = bag). Orthographic: faces facing the camera, lit by ``light``."""
    size = canvas.size[0]
    turn = _rotation(view)
    corners = np.array([[sx * bag.width / 2, sy * bag.height / 2, sz * bag.depth / 2] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    extra = np.array(_wheel_points(bag)).reshape(-1, 3)
    placed = np.concatenate([corners, extra]) @ turn.T
    low, high = placed[:, :2].min(axis=0), placed[:, :2].max(axis=0)
    scale = view.scale * size / float(max(high - low))
    centre = (low + high) / 2

    def screen(point: np.ndarray) -> tuple[float, float]:
        x, y = (turn @ point)[:2] - centre
        return (view.cx * size + scale * x, view.cy * size - scale * y)

    if shadow > 0:  # a soft shadow of the bag's footprint, down and to the right
        foot = [screen(np.array([sx * bag.width / 2, -bag.height / 2, sz * bag.depth / 2])) for sx, sz in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
        shade = Image.new("L", canvas.size, 0)
        offset = 0.03 * size
        ImageDraw.Draw(shade).polygon([(x + offset, y + offset) for x, y in foot], fill=int(255 * shadow))
        shade = shade.filter(ImageFilter.BoxBlur(max(1, size // 40)))
        canvas.paste((0, 0, 0), mask=shade)

    resolution = max(32, int(round(scale * 1.1 / 16)) * 16)  # a few sizes, so the cache is reused
    textures = face_textures(bag, resolution)
    lamp = np.asarray(light.direction, dtype=np.float64)
    lamp /= np.linalg.norm(lamp)
    wheel_r = 0.06 * scale
    rim = (24, 24, 26)
    wheels = [(screen(p), (turn @ p)[2]) for p in _wheel_points(bag)]
    draw, pen = ImageDraw.Draw(canvas), ImageDraw.Draw(mask)
    for (x, y), depth in wheels:
        if depth < 0:
            draw.ellipse((x - wheel_r, y - wheel_r, x + wheel_r, y + wheel_r), fill=rim)
            pen.ellipse((x - wheel_r, y - wheel_r, x + wheel_r, y + wheel_r), fill=255)
    for face in FACES:
        origin, across, down, normal = _face_frame(bag, face)
        facing = turn @ normal
        if facing[2] <= 0.04:
            continue
        texture = textures[face]
        o = np.array(screen(origin))
        u = np.array(screen(origin + across)) - o
        v = np.array(screen(origin + down)) - o
        basis = np.column_stack([u / texture.width, v / texture.height])
        if abs(np.linalg.det(basis)) < 1e-9:
            continue
        inverse = np.linalg.inv(basis)
        shift = -inverse @ o
        data = (inverse[0, 0], inverse[0, 1], shift[0], inverse[1, 0], inverse[1, 1], shift[1])
        lit = light.ambient + light.diffuse * max(0.0, float(facing @ lamp))
        table = [min(255, int(i * lit)) for i in range(256)] * 3 + list(range(256))
        placed_face = texture.point(table).transform(canvas.size, Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR)
        canvas.paste(placed_face, (0, 0), placed_face)
        mask.paste(ImageChops.lighter(mask, placed_face.getchannel("A")))
    for (x, y), depth in wheels:
        if depth >= 0:
            draw.ellipse((x - wheel_r, y - wheel_r, x + wheel_r, y + wheel_r), fill=rim)
            draw.ellipse((x - wheel_r * 0.4, y - wheel_r * 0.4, x + wheel_r * 0.4, y + wheel_r * 0.4), fill=(90, 90, 94))
            pen.ellipse((x - wheel_r, y - wheel_r, x + wheel_r, y + wheel_r), fill=255)
    if bag.tag is not None:  # a tag hanging from the top handle
        hx, hy = screen(np.array([0.0, bag.height / 2, 0.0]))
        angle = math.radians(view.roll) + 0.5
        length, tw, th = 0.22 * scale, 0.09 * scale, 0.13 * scale
        ex, ey = hx + length * math.sin(angle), hy + length * math.cos(angle)
        draw.line((hx, hy, ex, ey), fill=(40, 40, 40), width=max(1, round(0.012 * scale)))
        pen.line((hx, hy, ex, ey), fill=255, width=max(1, round(0.012 * scale)))
        ca, sa = math.cos(angle), math.sin(angle)
        quad = [(ex + dx * ca + dy * sa, ey - dx * sa + dy * ca) for dx, dy in ((-tw, 0), (tw, 0), (tw, 2 * th), (-tw, 2 * th))]
        draw.polygon(quad, fill=bag.tag)
        pen.polygon(quad, fill=255)


# --- the two capture settings --------------------------------------------------------------------

_BELT = (58, 60, 66)
_FLOORS = ("tiles", "terrazzo", "steel", "wood", "carpet", "rollers")


def _conveyor(size: int, rng: np.random.Generator, view: int) -> Image.Image:
    """The handling system's belt: one plain dark surface, its faint slat joints and edge strips
    barely darker, evenly lit."""
    tint = (0.0, 4.0, -3.0)[view - 1]
    belt = tuple(int(c + tint) for c in _BELT)
    image = Image.new("RGB", (size, size), belt)
    draw = ImageDraw.Draw(image)
    step = size * 0.11
    for y in np.arange(rng.uniform(0, step), size, step):
        draw.line((0, y, size, y), fill=_lighter(belt, 0.05), width=max(1, size // 128))
    edge = round(size * 0.04)
    for x0 in (0, size - edge):
        draw.rectangle((x0, 0, x0 + edge, size), fill=_darker(belt, 0.82))
    return image


def _checkpoint(size: int, rng: np.random.Generator) -> Image.Image:
    """A checkpoint surface: floor tiles, terrazzo, a steel table, a wooden counter, carpet or
    the X-ray belt's rollers, in a random colour."""
    kind = _FLOORS[int(rng.integers(len(_FLOORS)))]
    grey = rng.uniform(60, 210)  # muted: a floor or a table, coloured a little
    base = tuple(int(np.clip(grey + c, 0, 255)) for c in rng.normal(0, 28, 3))
    image = Image.new("RGB", (size, size), base)
    draw = ImageDraw.Draw(image)
    if kind == "tiles":
        tile, grout = size * rng.uniform(0.15, 0.32), _darker(base, 0.6)
        for t in np.arange(rng.uniform(0, tile), size, tile):
            draw.line((t, 0, t, size), fill=grout, width=max(1, size // 100))
            draw.line((0, t, size, t), fill=grout, width=max(1, size // 100))
    elif kind == "terrazzo":
        for _ in range(size // 2):
            x, y, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(0.5, 2.5) * size / 128
            draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in rng.integers(30, 240, 3)))
    elif kind == "steel":
        image.paste(Image.new("RGB", (size, size), (168, 170, 174)))
        for y in rng.uniform(0, size, size // 3):
            draw.line((0, y, size, y), fill=(int(rng.integers(140, 200)),) * 3, width=1)
    elif kind == "wood":
        plank = size * rng.uniform(0.12, 0.2)
        wood = ((150, 100, 60), (120, 80, 50), (190, 150, 100))[int(rng.integers(3))]
        image.paste(Image.new("RGB", (size, size), wood))
        for y in np.arange(0, size, plank):
            draw.line((0, y, size, y), fill=_darker(wood, 0.55), width=max(1, size // 90))
            for _ in range(4):
                g = y + rng.uniform(0, plank)
                draw.line((0, g, size, g + rng.uniform(-3, 3)), fill=_darker(wood, 0.85), width=1)
    elif kind == "carpet":
        pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, 14, (size, size, 1)).astype(np.float32)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(image)
    else:  # rollers
        step = size * rng.uniform(0.06, 0.1)
        for y in np.arange(rng.uniform(0, step), size, step):
            draw.rectangle((0, y, size, y + step * 0.7), fill=(176, 178, 182))
            draw.line((0, y + step * 0.2, size, y + step * 0.2), fill=(222, 224, 226), width=max(1, size // 128))
    if rng.random() < 0.4:  # a painted line or the edge of a counter
        y, band = size * rng.uniform(0, 1), size * rng.uniform(0.03, 0.08)
        color = ((230, 200, 40), (220, 220, 215), (40, 40, 44))[int(rng.integers(3))]
        draw.polygon([(0, y), (size, y + rng.uniform(-0.3, 0.3) * size), (size, y + band), (0, y + band)], fill=color)
    return image


def _clutter(canvas: Image.Image, rng: np.random.Generator, light: _Light) -> None:
    """What lies around a bag at the checkpoint: trays, other bags, papers, people's feet."""
    size = canvas.size[0]
    draw = ImageDraw.Draw(canvas)
    scratch = Image.new("L", canvas.size, 0)
    for _ in range(int(rng.integers(2, 5))):
        kind = int(rng.choice(5, p=(0.25, 0.3, 0.15, 0.15, 0.15)))
        if kind == 0:  # a screening tray, mostly out of frame
            x0, y0 = rng.uniform(-0.6, 0.6) * size, rng.uniform(-0.6, 0.6) * size
            color = ((70, 72, 78), (40, 60, 120), (150, 152, 156))[int(rng.integers(3))]
            draw.rounded_rectangle((x0, y0, x0 + size * 0.9, y0 + size * 0.7), radius=size * 0.06, outline=color, width=max(2, size // 20))
        elif kind == 1:  # another bag at the edge
            other = sample_baggage(rng)
            edge = rng.uniform(-0.05, 1.05, 2)
            edge[int(rng.integers(2))] = (-0.1, 1.1)[int(rng.integers(2))]
            view = BagView(float(rng.uniform(0, 360)), float(rng.uniform(20, 60)), float(rng.uniform(-40, 40)),
                           float(rng.uniform(0.5, 0.9)), float(edge[0]), float(edge[1]))  # fmt: skip
            draw_bag(canvas, scratch, other, view, light, shadow=0.3)
        elif kind == 2:  # papers, a passport, a phone
            x, y, w, h = rng.uniform(0, size, 2).tolist() + (rng.uniform(0.08, 0.2, 2) * size).tolist()
            color = ((240, 240, 236), (120, 30, 40), (20, 20, 24), (40, 60, 120))[int(rng.integers(4))]
            draw.rectangle((x, y, x + w, y + h), fill=color)
        elif kind == 3:  # a person's leg and shoe coming into the frame
            x = rng.uniform(0, size)
            top, foot = (-0.1 * size, rng.uniform(0.1, 0.35) * size)
            trousers = ((30, 30, 36), (40, 50, 90), (110, 110, 115), (150, 130, 95))[int(rng.integers(4))]
            draw.line((x, top, x + rng.uniform(-0.1, 0.1) * size, foot), fill=trousers, width=max(3, size // 9))
            draw.ellipse((x - size * 0.07, foot - size * 0.03, x + size * 0.09, foot + size * 0.05), fill=(22, 22, 22))
        else:  # a cable or a belt divider
            points = [tuple(rng.uniform(-0.1, 1.1, 2) * size) for _ in range(3)]
            draw.line(points, fill=((20, 20, 20), (200, 40, 40), (40, 40, 160))[int(rng.integers(3))], width=max(1, size // 50))


def _occlude(canvas: Image.Image, cover: Image.Image, rng: np.random.Generator, box: tuple[int, int, int, int]) -> None:
    """Something in front of the bag (a hand reaching for it, a strap, a tray rim, a post),
    drawn into ``canvas`` and ``cover`` (what it hides)."""
    size = canvas.size[0]
    x1, y1, x2, y2 = box
    bw, bh = max(1, x2 - x1), max(1, y2 - y1)
    kind = int(rng.integers(4))
    shapes: list[tuple[str, object, Color, int]] = []
    if kind == 0:  # an arm and a hand
        tx, ty = x1 + bw * rng.uniform(0.2, 0.8), y1 + bh * rng.uniform(0.2, 0.8)
        angle = rng.uniform(0, 2 * math.pi)
        sx, sy = tx + math.cos(angle) * size, ty + math.sin(angle) * size
        skin = SKIN[int(rng.integers(len(SKIN)))]
        sleeve = tuple(int(v) for v in rng.integers(20, 220, 3))
        width = max(3, round(size * rng.uniform(0.07, 0.1)))
        shapes.append(("line", (sx, sy, tx, ty), skin, width))
        mx, my = tx + math.cos(angle) * size * 0.25, ty + math.sin(angle) * size * 0.25
        shapes.append(("line", (sx, sy, mx, my), sleeve, width + 2))  # type: ignore[arg-type]
        r = width * 0.8
        shapes.append(("ellipse", (tx - r, ty - r, tx + r, ty + r), skin, 0))
    elif kind == 1:  # a strap across the bag
        y0, y3 = y1 + bh * rng.uniform(0, 1), y1 + bh * rng.uniform(0, 1)
        color = ((20, 20, 22), (170, 40, 40), (40, 90, 170), (200, 170, 40))[int(rng.integers(4))]
        shapes.append(("line", (0, y0, size, y3), color, max(2, round(size * rng.uniform(0.03, 0.06)))))
    elif kind == 2:  # a tray rim in front of the lower part
        top = y1 + bh * rng.uniform(0.65, 0.85)
        color = ((70, 72, 78), (40, 60, 120), (150, 152, 156))[int(rng.integers(3))]
        shapes.append(("rect", (0, top, size, top + size * rng.uniform(0.06, 0.1)), color, 0))
    else:  # a post or a stand at one side of the bag
        x = x1 + bw * (rng.uniform(-0.05, 0.25) if rng.random() < 0.5 else rng.uniform(0.75, 1.05))
        half = size * rng.uniform(0.03, 0.06)
        shapes.append(("rect", (x - half, 0, x + half, size), (120, 122, 126), 0))
    draw, pen = ImageDraw.Draw(canvas), ImageDraw.Draw(cover)
    for kind_name, where, color, width in shapes:
        for target, fill in ((draw, color), (pen, 255)):
            if kind_name == "line":
                target.line(where, fill=fill, width=width)  # type: ignore[arg-type]
            elif kind_name == "ellipse":
                target.ellipse(where, fill=fill)  # type: ignore[arg-type]
            else:
                target.rectangle(where, fill=fill)  # type: ignore[arg-type]


def _imaging(image: Image.Image, rng: np.random.Generator, probe: bool) -> Image.Image:
    """The camera: the rig's even light and clean sensor, or the checkpoint's tinted, uneven
    light, vignetting, blur and noise."""
    size = image.size[0]
    x = np.asarray(image, dtype=np.float32) / 255.0
    if probe:
        if rng.random() < 0.6:
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.2)))
            x = np.asarray(image, dtype=np.float32) / 255.0
        casts = ((1.1, 1.0, 0.84), (0.86, 0.98, 1.14), (0.95, 1.07, 0.9), (1.0, 1.0, 1.0))
        cast = np.asarray(casts[int(rng.integers(len(casts)))], dtype=np.float32) * rng.uniform(0.95, 1.05, 3).astype(np.float32)
        coords = np.linspace(-0.5, 0.5, size, dtype=np.float32)
        xs, ys = coords[None, :], coords[:, None]
        ramp = 1.0 + rng.uniform(-0.45, 0.45) * xs + rng.uniform(-0.35, 0.35) * ys
        sx, sy = rng.uniform(-0.4, 0.4, 2)
        spot = 0.35 * np.exp(-((xs - sx) ** 2 + (ys - sy) ** 2) / (2 * rng.uniform(0.12, 0.3) ** 2))
        vignette = 1.0 - rng.uniform(0.2, 0.5) * (xs**2 + ys**2)
        light = (ramp + spot) * vignette * rng.uniform(0.72, 1.1)
        x = x * cast * light.astype(np.float32)[..., None]
        grey = x.mean(axis=2, keepdims=True)
        x = grey + np.float32(rng.uniform(0.7, 1.05)) * (x - grey)
        x = np.clip(x, 0, 1) ** np.float32(rng.uniform(0.85, 1.2))
        noise = rng.uniform(2.5, 6.0)
    else:
        x = x * np.float32(rng.uniform(0.97, 1.03))
        noise = 1.0
    x = np.clip(x, 0, 1) * 255.0 + rng.normal(0.0, noise, x.shape).astype(np.float32)
    return Image.fromarray(np.clip(np.rint(x), 0, 255).astype(np.uint8), "RGB")


def render_image(
    size: int, supersample: int, bag: BaggageAppearance, rng: np.random.Generator, side: str, view: int
) -> tuple[Image.Image, Image.Image, tuple[int, int, int, int]]:
    """One photograph of ``bag``: (RGB image, L mask of its visible pixels, its box), at
    ``size`` x ``size``, drawn at ``supersample`` x and reduced."""
    s = size * supersample
    probe = side == "p"
    pose = sample_view(rng, side, view)
    if probe:
        lamp = (float(rng.uniform(-1, 1)), float(rng.uniform(-0.2, 1)), float(rng.uniform(0.4, 1.2)))
        light = _Light(lamp, float(rng.uniform(0.35, 0.55)), float(rng.uniform(0.45, 0.7)))
        canvas = _checkpoint(s, rng)
        _clutter(canvas, rng, light)
    else:
        light = _Light((0.15, 0.7, 1.0), 0.55, 0.5)
        canvas = _conveyor(s, rng, view)
    full = Image.new("L", (s, s), 0)
    draw_bag(canvas, full, bag, pose, light, shadow=0.45 if probe else 0.3)
    visible = full
    if probe and rng.random() < 0.5:
        cover = Image.new("L", (s, s), 0)
        box = _box(np.asarray(full) >= 128) or (0, 0, s, s)
        _occlude(canvas, cover, rng, box)
        visible = ImageChops.subtract(full, cover)
    if supersample > 1:
        canvas, full, visible = canvas.reduce(supersample), full.reduce(supersample), visible.reduce(supersample)
    image = _imaging(canvas, rng, probe)
    whole = np.asarray(full) >= 128
    seen = (np.asarray(visible) >= 128) & whole
    box = _box(whole)
    if box is None or not seen.any():
        raise DatasetError(f"a synthetic bag fell out of its {size}x{size} frame (view {side}_{view}); this is a generator bug")
    return image, Image.fromarray((seen * 255).astype(np.uint8), "L"), box


def _box(pixels: np.ndarray) -> tuple[int, int, int, int] | None:
    rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
    if not len(rows):
        return None
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


# --- presets, the plan and the cache -------------------------------------------------------------


def _name_ok(_: object, attribute: attrs.Attribute, value: str) -> None:
    if not value or not value.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"{attribute.name} {value!r} must be a non-empty name of letters, digits, '-' or '_'")


@frozen
class BaggagePreset:
    """Square images of ``size``; ``num_train_ids`` training bags and ``num_test_ids`` test bags,
    each photographed from 1..``gallery_views`` gallery and 1..``probe_views`` probe views."""

    name: str = field(validator=_name_ok)
    size: int = field(validator=validators.ge(32))
    num_train_ids: int = field(validator=validators.ge(1))
    num_test_ids: int = field(validator=validators.ge(1))
    gallery_views: int = field(default=3, validator=[validators.ge(1), validators.le(3)])
    probe_views: int = field(default=4, validator=[validators.ge(1), validators.le(4)])
    supersample: int = field(default=2, validator=[validators.ge(1), validators.le(4)])

    def __attrs_post_init__(self) -> None:
        if self.num_train_ids + self.num_test_ids > 9999:
            raise ValueError(f"preset {self.name}: ids reach {self.num_train_ids + self.num_test_ids}, past MVB's four digits")

    def digest(self) -> str:
        """Short hash of the spec: a cached copy is reused only for exactly this spec."""
        text = json.dumps(attrs.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def builtin_baggage_presets() -> Mapping[str, BaggagePreset]:
    """``tiny_baggage`` for tests (24 bags at 64x64), ``baggage`` for a CPU-sized run (400 bags
    at 128x128, about 2,000 images)."""
    tiny = BaggagePreset("tiny_baggage", 64, num_train_ids=16, num_test_ids=8)
    demo = BaggagePreset("baggage", 128, num_train_ids=300, num_test_ids=100)
    return MappingProxyType({p.name: p for p in (tiny, demo)})


BAGGAGE_PRESETS: Mapping[str, BaggagePreset] = builtin_baggage_presets()


@frozen
class BagShot:
    """One image to draw: which bag, which side ("g"/"p") and view, and its split folder."""

    pid: int
    side: str
    view: int
    split: str
    bag: BaggageAppearance

    def file_name(self) -> str:
        return f"{self.pid:04d}_{self.side}_{self.view}.jpg"


def bags_of(spec: BaggagePreset, seed: int) -> dict[int, BaggageAppearance]:
    """One appearance per id, no two sharing the same coarse combination (until the palettes
    run out): similar bags exist, identical ones do not."""
    bags: dict[int, BaggageAppearance] = {}
    taken: set[tuple[object, ...]] = set()
    for pid in range(1, spec.num_train_ids + spec.num_test_ids + 1):
        for attempt in range(50):
            bag = sample_baggage(np.random.default_rng([seed, _IDENTITY, pid, attempt]))
            if bag.key() not in taken:
                break
        taken.add(bag.key())
        bags[pid] = bag
    return bags


def plan_shots(spec: BaggagePreset, seed: int) -> tuple[BagShot, ...]:
    """Every image: per bag 1..3 gallery views (mostly 3) and 1..4 probe views (2 on average),
    about five images a bag as in MVB (2.9 gallery + 2.1 probe)."""
    bags = bags_of(spec, seed)
    shots: list[BagShot] = []
    for pid, bag in bags.items():
        rng = np.random.default_rng([seed, _PLAN, pid])
        train = pid <= spec.num_train_ids
        gallery_p = np.array((0.02, 0.08, 0.9)[: spec.gallery_views])
        probe_p = np.array((0.3, 0.4, 0.2, 0.1)[: spec.probe_views])
        for side, most, weights in (("g", spec.gallery_views, gallery_p), ("p", spec.probe_views, probe_p)):
            count = 1 + int(rng.choice(most, p=weights / weights.sum()))
            views = sorted(int(v) + 1 for v in rng.choice(most, size=count, replace=False))
            split = TRAIN_DIR if train else (GALLERY_DIR if side == "g" else QUERY_DIR)
            shots += [BagShot(pid, side, view, split, bag) for view in views]
    return tuple(shots)


def draw_shot(spec: BaggagePreset, seed: int, shot: BagShot) -> tuple[Image.Image, Image.Image, tuple[int, int, int, int]]:
    rng = np.random.default_rng([seed, _IMAGE, shot.pid, 0 if shot.side == "g" else 1, shot.view])
    return render_image(spec.size, spec.supersample, shot.bag, rng, shot.side, shot.view)


@frozen
class _Task:
    preset: BaggagePreset
    seed: int
    root: str
    shots: tuple[BagShot, ...]


def _draw_task(task: _Task) -> list[tuple[str, str, tuple[int, int, int, int]]]:
    """Draws and writes the task's images and masks; returns (split, file, box) of each."""
    root = Path(task.root)
    out = []
    for shot in task.shots:
        image, mask, box = draw_shot(task.preset, task.seed, shot)
        name = shot.file_name()
        image.save(root / shot.split / name, format="JPEG", quality=JPEG_QUALITY)
        mask.save(root / MASKS / shot.split / (name[:-4] + ".png"), format="PNG")
        out.append((shot.split, name, box))
    return out


def generate_baggage(
    preset: str | BaggagePreset,
    seed: int,
    out_dir: str | Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> Path:
    """Writes the MVB tree of ``preset`` under ``out_dir/mvb``; returns that root.
    ``workers`` (default: the available cores for big presets, 1 for small) never changes the bytes."""
    spec = resolve_baggage_preset(preset)
    root = Path(out_dir) / DOMAIN
    if root.exists() and any(root.iterdir()):
        raise DatasetError(f"synthetic output folder {root} is not empty; refusing to mix datasets")
    for split in SPLITS:
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / MASKS / split).mkdir(parents=True, exist_ok=True)
    shots = plan_shots(spec, seed)
    tasks = [_Task(spec, seed, str(root), shots[i : i + _CHUNK]) for i in range(0, len(shots), _CHUNK)]
    boxes: dict[str, dict[str, list[int]]] = {split: {} for split in SPLITS}
    done = 0

    def collect(results: list[tuple[str, str, tuple[int, int, int, int]]]) -> None:
        nonlocal done
        for split, name, box in results:
            boxes[split][name] = list(box)
        done += len(results)
        if progress is not None:
            progress(done, len(shots))

    count = workers if workers is not None else (_available_cores() if len(shots) >= _PARALLEL_FROM else 1)
    if count <= 1 or len(tasks) <= 1:
        for task in tasks:
            collect(_draw_task(task))
    else:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        with ProcessPoolExecutor(max_workers=min(count, len(tasks)), mp_context=context) as pool:
            futures = [pool.submit(_draw_task, task) for task in tasks]
            try:
                for future in as_completed(futures):
                    collect(future.result())
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    sorted_boxes = {split: dict(sorted(named.items())) for split, named in boxes.items()}
    (root / BOXES).write_text(json.dumps(sorted_boxes, indent=1, sort_keys=True) + "\n")
    _write_info(root, spec, shots)
    return root


def _write_info(root: Path, spec: BaggagePreset, shots: Sequence[BagShot]) -> None:
    """The release's metadata: train.json (training bags), val_gallery.json and val_probe.json."""
    lists: dict[str, list[dict[str, object]]] = {part: [] for part in INFO_FILES}
    for shot in sorted(shots, key=lambda s: s.file_name()):
        part = "train" if shot.split == TRAIN_DIR else ("gallery" if shot.side == "g" else "probe")
        lists[part].append({
            "id": f"{shot.pid:04d}", "image_name": shot.file_name(), "material": shot.bag.material,
            "datatype": shot.side, "dimsize": [spec.size, spec.size],
        })  # fmt: skip
    (root / INFO).mkdir(parents=True, exist_ok=True)
    for part, name in INFO_FILES.items():
        (root / INFO / name).write_text(json.dumps({"image": lists[part]}, indent=1) + "\n")


def resolve_baggage_preset(preset: str | BaggagePreset) -> BaggagePreset:
    if isinstance(preset, BaggagePreset):
        return preset
    if preset not in BAGGAGE_PRESETS:
        raise DatasetError(f"unknown synthetic baggage preset {preset!r}; known: {', '.join(sorted(BAGGAGE_PRESETS))}")
    return BAGGAGE_PRESETS[preset]


def _manifest(spec: BaggagePreset, seed: int) -> dict[str, object]:
    shots = plan_shots(spec, seed)
    counts = {split: sum(1 for s in shots if s.split == split) for split in SPLITS}
    materials: dict[str, int] = {}
    for bag in bags_of(spec, seed).values():
        materials[bag.material] = materials.get(bag.material, 0) + 1
    return {
        "generator_version": GENERATOR_VERSION,
        "preset": spec.name,
        "spec_digest": spec.digest(),
        "seed": int(seed),
        "image_size": [spec.size, spec.size],
        "ids": {"train": spec.num_train_ids, "test": spec.num_test_ids},
        "materials": dict(sorted(materials.items())),
        "images": counts,
    }


def _matches(folder: Path, expected: dict) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest != expected:
        return False
    root = folder / DOMAIN
    if not (root / BOXES).is_file() or not all((root / INFO / name).is_file() for name in INFO_FILES.values()):
        return False
    for split, count in expected["images"].items():
        for directory in (root / split, root / MASKS / split):
            if not directory.is_dir() or sum(1 for _ in directory.iterdir()) != count:
                return False
    return True


def is_complete(folder: Path, spec: BaggagePreset, seed: int) -> bool:
    """Whether ``folder`` holds this exact (spec, seed, version) with every file it promises."""
    return _matches(folder, _manifest(spec, seed))


def ensure_synthetic_baggage(
    preset: str | BaggagePreset,
    seed: int,
    cache_root: str | Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> Path:
    """The MVB root of the cached copy under ``cache_root/<preset>-seed<seed>/mvb``, generated
    first (into a temporary folder renamed into place when complete) if missing, incomplete,
    from another spec or from another generator version."""
    spec = resolve_baggage_preset(preset)
    final = Path(cache_root) / f"{spec.name}-seed{seed}"
    cached_copy(
        final,
        _manifest(spec, seed),
        complete=_matches,
        generate=lambda staging: generate_baggage(spec, seed, staging, progress=progress, workers=workers),
        what="synthetic baggage dataset",
    )
    return final / DOMAIN


# --- colours ---------------------------------------------------------------------------------------


def _darker(color: Color, factor: float) -> Color:
    return (int(color[0] * factor), int(color[1] * factor), int(color[2] * factor))


def _lighter(color: Color, amount: float) -> Color:
    return _mix(color, (255, 255, 255), amount)


def _mix(a: Color, b: Color, amount: float) -> Color:
    return tuple(int(round(x + (y - x) * amount)) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _shade(color: Color, rng: np.random.Generator, spread: float) -> Color:
    jitter = rng.normal(0.0, spread, 3)
    return tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(color, jitter, strict=True))  # type: ignore[return-value]


def _nearest(color: Color, palette: tuple[Color, ...]) -> int:
    return int(np.argmin([sum((a - b) ** 2 for a, b in zip(color, entry, strict=True)) for entry in palette]))
