"""Cameras of the synthetic re-ID data: each has a fixed scene, preferred viewpoint and imaging style.

A domain's cameras draw their style from a distribution that ``gap`` moves away from the source
look (0 = the source distribution, 1 = the default target look: a cool colour cast, washed-out
colour, darker, blurrier, noisier, lower resolution, smaller people, and parks and night streets
among the scenes). The strength was tuned so that a ResNet-18 trained from scratch on the source
keeps roughly a third of its source mAP on the target: a clear gap that adaptation can close.
"""

from __future__ import annotations

import numpy as np
from attrs import frozen
from PIL import Image, ImageDraw, ImageFilter

from reidkit.adapters.data.synth_people import VIEWS, Color

FAMILIES = ("street", "brick", "indoor", "park", "night")
_SOURCE_FAMILIES = (0.45, 0.3, 0.25, 0.0, 0.0)
_TARGET_FAMILIES = (0.25, 0.1, 0.3, 0.25, 0.1)
_TARGET_TINT = (0.88, 0.98, 1.14)  # the target domain's cameras share a cool cast

_CLUTTER = ((60, 60, 65), (140, 140, 140), (40, 80, 50), (170, 40, 40), (40, 60, 140), (200, 180, 60), (230, 230, 225))


@frozen
class CameraStyle:
    """Everything that makes one camera's images look like that camera's."""

    family: str
    gain: float
    gamma: float
    cast: tuple[float, float, float]
    saturation: float
    blur: float  # Gaussian sigma in output pixels
    noise: float  # sensor noise std on the 0..255 scale
    resolution: float  # < 1: the camera sees a lower resolution, upsampled back
    occlusion: float  # chance of an occluder per image
    scale: tuple[float, float]  # person height / frame height
    views: tuple[float, float, float, float]  # probabilities of VIEWS


def sample_camera_styles(rng: np.random.Generator, gap: float, count: int) -> tuple[CameraStyle, ...]:
    """The ``count`` cameras of a domain whose style sits ``gap`` of the way to the target look.

    Draws are stratified across the cameras (scene families apportioned by their weights, every
    continuous setting spread over its range), so how far a domain sits from the source depends
    on ``gap``, not on the luck of a few draws.
    """

    def spread(source: tuple[float, float], target: tuple[float, float]) -> np.ndarray:
        lo = source[0] + gap * (target[0] - source[0])
        hi = source[1] + gap * (target[1] - source[1])
        strata = (rng.permutation(count) + rng.uniform(size=count)) / count
        return lo + strata * (hi - lo)

    weights = np.clip([s + gap * (t - s) for s, t in zip(_SOURCE_FAMILIES, _TARGET_FAMILIES, strict=True)], 0, None)
    families = rng.permutation(_apportion(weights / weights.sum(), count))
    tint = 1.0 + gap * (np.asarray(_TARGET_TINT) - 1.0)
    casts = np.maximum(0.3, tint + rng.uniform(-0.07, 0.07, (count, 3)))
    dominant = np.concatenate([rng.permutation(len(VIEWS)) for _ in range(-(-count // len(VIEWS)))])
    columns = {
        "gain": spread((0.88, 1.12), (0.78, 0.95)),
        "gamma": spread((0.9, 1.1), (1.0, 1.2)),
        "saturation": spread((0.9, 1.15), (0.65, 0.85)),
        "blur": spread((0.0, 0.35), (0.35, 0.75)),
        "noise": spread((1.0, 3.0), (2.5, 5.0)),
        "resolution": spread((1.0, 1.0), (0.6, 0.8)),
        "occlusion": spread((0.08, 0.25), (0.08, 0.25)),
        "low": spread((0.84, 0.88), (0.8, 0.84)),
        "high": spread((0.95, 0.98), (0.92, 0.95)),
    }
    return tuple(
        CameraStyle(
            family=str(families[c]),
            gain=float(columns["gain"][c]),
            gamma=float(columns["gamma"][c]),
            cast=tuple(float(v) for v in casts[c]),  # type: ignore[arg-type]
            saturation=float(columns["saturation"][c]),
            blur=float(columns["blur"][c]),
            noise=float(columns["noise"][c]),
            resolution=float(columns["resolution"][c]),
            occlusion=float(columns["occlusion"][c]),
            scale=(float(columns["low"][c]), float(columns["high"][c])),
            views=tuple(0.56 if v == dominant[c] else 0.44 / 3 for v in range(len(VIEWS))),  # type: ignore[arg-type]
        )
        for c in range(count)
    )


def _apportion(weights: np.ndarray, count: int) -> list[str]:
    """``count`` family names in proportion to ``weights`` (largest remainders get the rest)."""
    quota = weights * count
    taken = np.floor(quota).astype(int)
    for index in np.argsort(-(quota - taken), kind="stable")[: count - int(taken.sum())]:
        taken[index] += 1
    return [family for family, n in zip(FAMILIES, taken, strict=True) for _ in range(n)]


def render_backdrop(
    rng: np.random.Generator, style: CameraStyle, height: int, width: int, window: int
) -> Image.Image:
    """The camera's fixed scene, ``width`` wide; each image shows a ``window``-wide part of it.

    The scene is a row of segments (different buildings, shop fronts, hedges) of the camera's
    family, so one camera still shows a variety of backgrounds, as a real one does.
    """
    horizon = int(height * rng.uniform(0.45, 0.68))
    image = Image.new("RGB", (width, height))
    left = 0
    while left < width:
        span = min(width - left, int(window * rng.uniform(0.7, 1.8)))
        wall, ground = _family_colors(rng, style.family)
        segment = Image.new("RGB", (span, height), wall)
        draw = ImageDraw.Draw(segment)
        draw.rectangle((0, horizon, span, height), fill=ground)
        _FAMILY_DRAWERS[style.family](draw, rng, span, height, horizon)
        image.paste(segment, (left, 0))
        left += span
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 7)) * width // max(1, 4 * window)):
        _clutter(draw, rng, width, height, horizon)
    return _modulate(image, rng)


def add_clutter(image: Image.Image, rng: np.random.Generator) -> None:
    """0-2 objects that pass through this one image (in place): backgrounds never repeat exactly."""
    w, h = image.size
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(0, 3))):
        _clutter(draw, rng, w, h, int(h * rng.uniform(0.5, 0.7)))


def apply_camera(image: Image.Image, style: CameraStyle, rng: np.random.Generator) -> Image.Image:
    """Resolution loss, blur, gain/cast/saturation/gamma and sensor noise of the camera."""
    w, h = image.size
    if style.resolution < 0.98:
        small = (max(4, round(w * style.resolution)), max(4, round(h * style.resolution)))
        image = image.resize(small, Image.Resampling.BILINEAR).resize((w, h), Image.Resampling.BILINEAR)
    if style.blur > 0.05:
        image = image.filter(ImageFilter.GaussianBlur(style.blur))
    x = np.asarray(image, dtype=np.float32) / 255.0
    gain = style.gain * rng.uniform(0.9, 1.1)  # the light changes a little from image to image
    x = x * (np.asarray(style.cast, dtype=np.float32) * np.float32(gain))
    x = x * _light_ramp(rng, h, w)[..., None]
    grey = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]  # no BLAS in forked workers
    x = grey[..., None] + np.float32(style.saturation) * (x - grey[..., None])
    x = np.clip(x, 0.0, 1.0) ** np.float32(style.gamma)
    x = x * 255.0 + rng.normal(0.0, style.noise, x.shape).astype(np.float32)
    return Image.fromarray(np.clip(np.rint(x), 0, 255).astype(np.uint8), "RGB")


def _light_ramp(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Light falling from one side and from above: shading that varies per image."""
    sx, sy = rng.uniform(-0.25, 0.25), rng.uniform(-0.15, 0.15)
    xs = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    ys = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    return (1.0 + np.float32(sx) * xs + np.float32(sy) * ys).astype(np.float32)


def draw_occluder(image: Image.Image, rng: np.random.Generator) -> None:
    """A pole, something in front of the legs, or something at one side (in place)."""
    w, h = image.size
    draw = ImageDraw.Draw(image)
    color = _CLUTTER[int(rng.integers(len(_CLUTTER)))]
    kind = int(rng.choice(3, p=(0.35, 0.4, 0.25)))
    if kind == 0:
        x, half = rng.uniform(0.1, 0.9) * w, rng.uniform(0.03, 0.07) * w
        draw.rectangle((x - half, 0, x + half, h), fill=color)
        draw.rectangle((x - half, 0, x - half * 0.4, h), fill=_scale(color, 1.25))
    elif kind == 1:
        top, x0 = h * rng.uniform(0.65, 0.85), w * rng.uniform(-0.3, 0.3)
        draw.rounded_rectangle((x0, top, x0 + w * rng.uniform(0.7, 1.3), h + 5), radius=w * 0.08, fill=color)
    else:
        left = bool(rng.random() < 0.5)
        span = w * rng.uniform(0.18, 0.32)
        box = (0, h * rng.uniform(0.25, 0.5), span, h) if left else (w - span, h * rng.uniform(0.25, 0.5), w, h)
        draw.rectangle(box, fill=color)


def _family_colors(rng: np.random.Generator, family: str) -> tuple[Color, Color]:
    walls = {
        "street": ((150, 150, 145), (190, 180, 160), (120, 125, 135), (170, 160, 140)),
        "brick": ((150, 70, 50), (130, 60, 45), (165, 90, 60)),
        "indoor": ((225, 222, 210), (200, 205, 210), (235, 225, 200)),
        "park": ((60, 110, 50), (80, 125, 60), (45, 90, 55)),
        "night": ((30, 32, 45), (45, 40, 50), (25, 30, 35)),
    }[family]
    grounds = {
        "street": ((110, 110, 112), (140, 135, 125), (95, 95, 100)),
        "brick": ((90, 90, 95), (120, 115, 110)),
        "indoor": ((180, 170, 150), (150, 150, 155), (200, 195, 185)),
        "park": ((95, 140, 70), (170, 150, 110), (110, 150, 80)),
        "night": ((40, 40, 45), (55, 50, 50)),
    }[family]
    return walls[int(rng.integers(len(walls)))], grounds[int(rng.integers(len(grounds)))]


def _street(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int, horizon: int) -> None:
    glass = (60, 80, 100) if rng.random() < 0.5 else (90, 90, 85)
    size = h * rng.uniform(0.1, 0.16)
    for x in np.arange(rng.uniform(0, size), w, size * 1.8):
        for y in np.arange(h * 0.05, horizon - size, size * 1.6):
            draw.rectangle((x, y, x + size, y + size * 1.2), fill=glass)
    for y in np.arange(horizon, h, h * 0.07):
        draw.line((0, y, w, y), fill=(80, 80, 82), width=1)


def _brick(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int, horizon: int) -> None:
    row, brick = max(3.0, h * rng.uniform(0.035, 0.05)), h * rng.uniform(0.09, 0.13)
    mortar = (185, 180, 170)
    for i, y in enumerate(np.arange(0, horizon, row)):
        draw.line((0, y, w, y), fill=mortar, width=1)
        for x in np.arange((i % 2) * brick / 2, w, brick):
            draw.line((x, y, x, y + row), fill=mortar, width=1)


def _indoor(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int, horizon: int) -> None:
    tile = h * rng.uniform(0.06, 0.1)
    dark = (120, 115, 110)
    for j, y in enumerate(np.arange(horizon, h, tile)):
        for i, x in enumerate(np.arange(0, w, tile)):
            if (i + j) % 2:
                draw.rectangle((x, y, x + tile, y + tile), fill=dark)
    for x in np.arange(rng.uniform(0, w / 4), w, w * rng.uniform(0.25, 0.4)):
        draw.rectangle((x, horizon - h * 0.45, x + h * 0.2, horizon), fill=(140, 110, 80))


def _park(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int, horizon: int) -> None:
    for _ in range(int(w * h / 700)):
        x, y, r = rng.uniform(0, w), rng.uniform(0, horizon), rng.uniform(h * 0.03, h * 0.1)
        g = int(rng.integers(70, 160))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(int(g * 0.5), g, int(g * 0.4)))
    for x in rng.uniform(0, w, int(rng.integers(2, 5))):
        draw.rectangle((x, horizon * 0.4, x + h * 0.04, horizon), fill=(80, 55, 35))
    path = h * rng.uniform(0.08, 0.2)
    draw.rectangle((0, h - path - h * 0.05, w, h - h * 0.05), fill=(175, 160, 125))


def _night(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int, horizon: int) -> None:
    for _ in range(int(w / 12)):
        x, y = rng.uniform(0, w), rng.uniform(0, horizon * 0.9)
        s = h * rng.uniform(0.03, 0.06)
        draw.rectangle((x, y, x + s, y + s * 1.3), fill=(230, 200, 110) if rng.random() < 0.6 else (20, 20, 25))
    for x in rng.uniform(0, w, 2):
        draw.rectangle((x, h * 0.1, x + 2, horizon), fill=(70, 70, 70))
        draw.ellipse((x - 6, h * 0.08, x + 8, h * 0.14), fill=(255, 235, 170))


_FAMILY_DRAWERS = {"street": _street, "brick": _brick, "indoor": _indoor, "park": _park, "night": _night}


def _clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int, horizon: int) -> None:
    color = _CLUTTER[int(rng.integers(len(_CLUTTER)))]
    x = rng.uniform(0, w)
    if rng.random() < 0.4:  # pole or sign post
        draw.rectangle((x, h * rng.uniform(0.05, 0.4), x + max(2, h * 0.025), horizon + h * 0.1), fill=(70, 70, 72))
        if rng.random() < 0.5:
            draw.rectangle((x - h * 0.05, h * 0.12, x + h * 0.07, h * 0.22), fill=color)
    else:  # a bin, a box, a parked something
        bw, bh = h * rng.uniform(0.08, 0.3), h * rng.uniform(0.08, 0.25)
        base = horizon + rng.uniform(0, (h - horizon) * 0.6)
        draw.rectangle((x, base - bh, x + bw, base), fill=color)


def _modulate(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Soft low-frequency light variation so flat areas are not perfectly flat."""
    w, h = image.size
    coarse = rng.uniform(0.85, 1.15, (max(2, h // 32), max(2, w // 32))).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse, "F").resize((w, h), Image.Resampling.BILINEAR))
    pixels = np.asarray(image, dtype=np.float32) * field[..., None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _scale(color: Color, factor: float) -> Color:
    return tuple(int(min(255, c * factor)) for c in color)  # type: ignore[return-value]


def view_of(rng: np.random.Generator, style: CameraStyle) -> str:
    return VIEWS[int(rng.choice(len(VIEWS), p=style.views))]
