"""Procedural pedestrians for the synthetic re-ID data: who someone is (``Appearance``, fixed per
identity) and how one image shows them (``Pose``, drawn per image), drawn with PIL.

Every attribute comes from a small palette, so a colour or a bag alone never identifies a person;
the combination does. Some attributes only show from some sides (a logo from the front, a backpack
fully from the back), so one identity looks different across viewpoints.
"""

from __future__ import annotations

import math

import numpy as np
from attrs import frozen
from PIL import Image, ImageDraw

Color = tuple[int, int, int]

SKIN = ((255, 219, 180), (234, 192, 150), (198, 140, 100), (141, 85, 56), (92, 58, 38))
HAIR = ((20, 17, 15), (70, 45, 25), (120, 80, 40), (215, 185, 110), (160, 160, 160), (150, 60, 30))
UPPER = (
    (200, 35, 40), (35, 70, 180), (40, 135, 65), (225, 200, 50), (235, 235, 230),
    (28, 28, 32), (128, 128, 132), (230, 120, 30), (115, 50, 150), (230, 135, 170), (110, 175, 225),
)
LOWER = ((45, 65, 110), (25, 25, 30), (110, 110, 115), (180, 160, 110), (220, 220, 212), (95, 65, 42), (150, 30, 40))
SHOES = ((20, 20, 20), (235, 235, 235), (100, 60, 30), (120, 120, 125), (180, 30, 35))
BAGS = ((22, 22, 26), (105, 70, 40), (30, 40, 90), (170, 35, 35), (115, 115, 118), (50, 100, 60))
HATS = ((25, 25, 30), (200, 35, 40), (35, 70, 180), (225, 200, 50), (235, 235, 230))

PATTERNS = ("plain", "stripes", "checks", "logo")
LOWER_STYLES = ("trousers", "shorts", "skirt")
CARRIED = ("none", "backpack", "handbag", "suitcase")
HAIR_LENGTHS = ("short", "medium", "long")
VIEWS = ("front", "back", "left", "right")


@frozen
class Appearance:
    """What stays the same for one identity in every image."""

    girth: float  # body width relative to an average build
    legs: float  # leg share of the height
    skin: Color
    hair: Color
    hair_length: str
    hat: Color | None
    upper: Color
    upper_second: Color  # stripes, checks and logo colour
    pattern: str
    stripe_period: float
    long_sleeves: bool
    lower: Color
    lower_style: str
    shoes: Color
    carried: str
    bag: Color
    bag_side: int  # +1 the person's right, -1 their left

    def key(self) -> tuple[object, ...]:
        """The coarse categorical combination that should single a person out."""
        return (
            _nearest(self.upper, UPPER), self.pattern, _nearest(self.lower, LOWER), self.lower_style,
            self.carried, _nearest(self.hair, HAIR), self.hat is not None,
        )


@frozen
class Pose:
    """How one image shows a person: viewpoint and walking phase."""

    view: str
    phase: float  # walking cycle in radians
    stride: float  # leg swing amplitude in radians
    lean: float  # forward lean in person-height units
    arm_spread: float


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """A random identity; palette colours get a small per-identity shade so twins are rare."""

    def pick(palette: tuple[Color, ...]) -> Color:
        return _shade(palette[int(rng.integers(len(palette)))], rng, 12.0)

    upper = int(rng.integers(len(UPPER)))
    second = (upper + 1 + int(rng.integers(len(UPPER) - 1))) % len(UPPER)  # never the same colour
    style = LOWER_STYLES[int(rng.choice(3, p=(0.62, 0.22, 0.16)))]
    hair_length = HAIR_LENGTHS[int(rng.choice(3, p=(0.45, 0.3, 0.25)))]
    return Appearance(
        girth=float(rng.choice((0.85, 1.0, 1.18)) * rng.uniform(0.95, 1.05)),
        legs=float(rng.uniform(0.44, 0.5)),
        skin=_shade(SKIN[int(rng.integers(len(SKIN)))], rng, 5.0),
        hair=pick(HAIR),
        hair_length=hair_length,
        hat=pick(HATS) if rng.random() < 0.15 else None,
        upper=_shade(UPPER[upper], rng, 12.0),
        upper_second=_shade(UPPER[second], rng, 12.0),
        pattern=PATTERNS[int(rng.choice(4, p=(0.4, 0.22, 0.16, 0.22)))],
        stripe_period=float(rng.uniform(0.03, 0.055)),
        long_sleeves=bool(rng.random() < 0.55),
        lower=pick(LOWER),
        lower_style=style,
        shoes=pick(SHOES),
        carried=CARRIED[int(rng.choice(4, p=(0.4, 0.25, 0.2, 0.15)))],
        bag=pick(BAGS),
        bag_side=int(rng.choice((-1, 1))),
    )


def sample_pose(rng: np.random.Generator, view: str) -> Pose:
    return Pose(
        view=view,
        phase=float(rng.uniform(0, 2 * math.pi)),
        stride=float(rng.uniform(0.15, 0.42)),
        lean=float(rng.uniform(-0.01, 0.025)),
        arm_spread=float(rng.uniform(0.0, 0.03)),
    )


def draw_person(
    image: Image.Image, person: Appearance, pose: Pose, *, cx: float, top: float, height: float
) -> None:
    """Draws ``person`` into ``image`` (RGB, in place), head at ``top``, ``height`` pixels tall."""
    frame = _Frame(ImageDraw.Draw(image), image.size, cx, top, height, -1.0 if pose.view == "left" else 1.0)
    if pose.view in ("front", "back"):
        _draw_facing(frame, image, person, pose, front=pose.view == "front")
    else:
        _draw_profile(frame, image, person, pose)


@frozen
class _Frame:
    """Maps person units (x: centre 0, y: 0 head top .. 1 soles, both in heights) to pixels."""

    draw: ImageDraw.ImageDraw
    size: tuple[int, int]
    cx: float
    top: float
    height: float
    mirror: float  # -1 draws a right-facing profile as a left-facing one

    def pt(self, x: float, y: float) -> tuple[float, float]:
        return (self.cx + self.mirror * x * self.height, self.top + y * self.height)

    def poly(self, points: list[tuple[float, float]], color: Color) -> None:
        self.draw.polygon([self.pt(x, y) for x, y in points], fill=color)

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: Color) -> None:
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], color)

    def ellipse(self, x: float, y: float, rx: float, ry: float, color: Color) -> None:
        (ax, ay), (bx, by) = self.pt(x - rx, y - ry), self.pt(x + rx, y + ry)
        self.draw.ellipse((min(ax, bx), ay, max(ax, bx), by), fill=color)

    def limb(self, a: tuple[float, float], b: tuple[float, float], width: float, color: Color) -> None:
        """A thick segment with rounded ends (width in person units)."""
        (x0, y0), (x1, y1) = a, b
        dx, dy = x1 - x0, y1 - y0
        norm = math.hypot(dx, dy) or 1.0
        nx, ny = -dy / norm * width / 2, dx / norm * width / 2
        self.poly([(x0 + nx, y0 + ny), (x1 + nx, y1 + ny), (x1 - nx, y1 - ny), (x0 - nx, y0 - ny)], color)
        self.ellipse(x0, y0, width / 2, width / 2, color)
        self.ellipse(x1, y1, width / 2, width / 2, color)

    def line(self, a: tuple[float, float], b: tuple[float, float], width: float, color: Color) -> None:
        self.draw.line([self.pt(*a), self.pt(*b)], fill=color, width=max(1, round(width * self.height)))


# Body landmarks in person units (heights).
_HEAD_Y, _HEAD_RY, _HEAD_RX = 0.075, 0.068, 0.052
_SHOULDER_Y, _HIP_Y = 0.175, 0.5


def _draw_facing(frame: _Frame, image: Image.Image, p: Appearance, pose: Pose, *, front: bool) -> None:
    g = p.girth
    shoulder, waist = 0.118 * g, 0.098 * g
    hip_y, ankle_y = _HIP_Y, _HIP_Y + p.legs
    side = -p.bag_side if front else p.bag_side  # screen side of the person's bag hand
    swing = math.sin(pose.phase)

    if p.hair_length == "long" and front:  # hair falling behind the shoulders
        frame.rect(-0.068, 0.06, 0.068, 0.24, p.hair)
    if p.carried == "suitcase":
        _suitcase(frame, side * 0.2, p.bag, handle_to=(side * (shoulder + 0.03), 0.53))

    # Legs: slight lateral stride, one foot lifted by the walking phase.
    leg_w = 0.07 * g
    for sign in (-1.0, 1.0):
        lift = 0.025 * max(0.0, sign * swing)
        foot = (sign * (0.045 * g + 0.01 * abs(swing)), ankle_y - lift)
        hip = (sign * 0.045 * g, hip_y)
        _leg(frame, p, hip, foot, leg_w)
        frame.ellipse(foot[0], foot[1] + 0.022, leg_w * 0.62, 0.022, p.shoes)
    _lower_garment_facing(frame, p, waist, hip_y)

    torso = [(-shoulder, _SHOULDER_Y), (shoulder, _SHOULDER_Y), (waist, hip_y + 0.01), (-waist, hip_y + 0.01)]
    _torso(frame, image, p, torso, logo=front and p.pattern == "logo")

    if p.carried == "backpack":
        if front:  # only the straps show
            for sign in (-1.0, 1.0):
                frame.line((sign * 0.06 * g, _SHOULDER_Y), (sign * 0.07 * g, 0.36), 0.018, _darker(p.bag, 0.8))
        else:
            frame.rect(-0.085 * g, 0.2, 0.085 * g, 0.43, p.bag)
            frame.rect(-0.07 * g, 0.33, 0.07 * g, 0.4, _darker(p.bag, 0.75))
    if p.hair_length == "long" and not front:
        frame.rect(-0.062, 0.08, 0.062, 0.25 if p.carried != "backpack" else 0.2, p.hair)

    # Arms hang beside the torso and swing a little toward/away from the camera.
    for sign in (-1.0, 1.0):
        hand = (sign * (shoulder + 0.03 + pose.arm_spread), 0.52 + 0.015 * sign * swing)
        _arm(frame, p, (sign * (shoulder - 0.02), _SHOULDER_Y + 0.02), hand, 0.05 * g)

    if p.carried == "handbag":
        frame.line((side * (shoulder - 0.03), _SHOULDER_Y), (side * (shoulder + 0.02), 0.44), 0.012, p.bag)
        frame.rect(side * (shoulder - 0.01), 0.43, side * (shoulder + 0.08), 0.53, p.bag)

    frame.rect(-0.022, 0.12, 0.022, _SHOULDER_Y + 0.01, p.skin)  # neck
    _head_facing(frame, p, front=front)


def _draw_profile(frame: _Frame, image: Image.Image, p: Appearance, pose: Pose) -> None:
    g = p.girth
    depth = 0.062 * g
    hip_y, leg_len = _HIP_Y, p.legs
    swing = pose.stride * math.sin(pose.phase)
    lean = pose.lean
    # A right-facing profile shows the person's left side, its mirror their right side.
    visible_bag = p.bag_side == (-1 if pose.view == "right" else 1)

    if p.carried == "suitcase":  # pulled behind
        _suitcase(frame, -0.23, p.bag, handle_to=(-0.07, 0.5), width=0.1)
    if p.carried == "handbag" and not visible_bag:
        frame.rect(-0.04, 0.43, 0.06, 0.53, _darker(p.bag, 0.8))
    if p.hair_length == "long":
        frame.poly([(-0.055, 0.05), (0.0, 0.05), (-0.02, 0.25), (-0.07, 0.24)], p.hair)

    # Far limbs first and darker, then the near ones: enough depth cue at this size.
    for angle, shade in ((-swing, 0.72), (swing, 1.0)):
        hip = (0.0, hip_y)
        foot = (math.sin(angle) * leg_len, hip_y + math.cos(angle) * leg_len)
        _leg(frame, p, hip, foot, 0.072 * g, shade=shade)
        frame.ellipse(foot[0] + 0.025, foot[1] + 0.02, 0.045, 0.021, _darker(p.shoes, shade))
        if angle == -swing:
            _arm(frame, p, (0.0, _SHOULDER_Y + 0.02), _swing_hand(swing * 0.8), 0.048 * g, shade=0.72)
    _lower_garment_profile(frame, p, depth, hip_y, swing)

    torso = [(-depth + lean, _SHOULDER_Y), (depth + lean, _SHOULDER_Y), (depth * 0.95, hip_y + 0.01), (-depth * 1.05, hip_y + 0.01)]
    _torso(frame, image, p, torso, logo=False)

    if p.carried == "backpack":
        frame.rect(-depth - 0.07 + lean, 0.2, -depth + 0.01 + lean, 0.43, p.bag)
        frame.line((-depth + lean, _SHOULDER_Y + 0.01), (depth * 0.6 + lean, 0.36), 0.016, _darker(p.bag, 0.8))
    _arm(frame, p, (lean, _SHOULDER_Y + 0.02), _swing_hand(-swing * 0.8), 0.05 * g)
    if p.carried == "handbag" and visible_bag:
        frame.line((lean, _SHOULDER_Y), (0.0, 0.44), 0.012, p.bag)
        frame.rect(-0.05, 0.43, 0.06, 0.53, p.bag)

    frame.rect(-0.02 + lean, 0.12, 0.025 + lean, _SHOULDER_Y + 0.01, p.skin)
    _head_profile(frame, p, lean)


def _swing_hand(angle: float) -> tuple[float, float]:
    length = 0.33
    return (math.sin(angle) * length, _SHOULDER_Y + 0.02 + math.cos(angle) * length)


def _leg(frame: _Frame, p: Appearance, hip: tuple[float, float], foot: tuple[float, float], width: float, shade: float = 1.0) -> None:
    covered = {"trousers": 1.0, "shorts": 0.35, "skirt": 0.0}[p.lower_style]
    frame.limb(hip, foot, width * 0.9, _darker(p.skin, shade))
    if covered > 0:
        knee = (hip[0] + (foot[0] - hip[0]) * covered, hip[1] + (foot[1] - hip[1]) * covered)
        frame.limb(hip, knee, width, _darker(p.lower, shade))


def _arm(frame: _Frame, p: Appearance, shoulder: tuple[float, float], hand: tuple[float, float], width: float, shade: float = 1.0) -> None:
    frame.limb(shoulder, hand, width * 0.85, _darker(p.skin, shade))
    sleeve = 1.0 if p.long_sleeves else 0.4
    cuff = (shoulder[0] + (hand[0] - shoulder[0]) * sleeve * 0.93, shoulder[1] + (hand[1] - shoulder[1]) * sleeve * 0.93)
    frame.limb(shoulder, cuff, width, _darker(p.upper, shade))


def _lower_garment_facing(frame: _Frame, p: Appearance, waist: float, hip_y: float) -> None:
    if p.lower_style == "skirt":
        frame.poly([(-waist, hip_y - 0.02), (waist, hip_y - 0.02), (waist + 0.05, 0.72), (-waist - 0.05, 0.72)], p.lower)
    else:
        frame.rect(-waist, hip_y - 0.02, waist, hip_y + 0.07, p.lower)


def _lower_garment_profile(frame: _Frame, p: Appearance, depth: float, hip_y: float, swing: float) -> None:
    if p.lower_style == "skirt":
        flare = 0.05 + 0.02 * abs(swing)
        frame.poly([(-depth, hip_y - 0.02), (depth, hip_y - 0.02), (depth + flare, 0.72), (-depth - flare, 0.72)], p.lower)
    else:
        frame.rect(-depth * 1.05, hip_y - 0.02, depth, hip_y + 0.06, p.lower)


def _torso(frame: _Frame, image: Image.Image, p: Appearance, outline: list[tuple[float, float]], *, logo: bool) -> None:
    frame.poly(outline, p.upper)
    if p.pattern in ("stripes", "checks"):
        _pattern_fill(frame, image, p, outline)
    if logo:
        frame.ellipse(0.0, 0.27, 0.038, 0.035, p.upper_second)
        frame.rect(-0.018, 0.255, 0.018, 0.285, _darker(p.upper_second, 0.55))


def _pattern_fill(frame: _Frame, image: Image.Image, p: Appearance, outline: list[tuple[float, float]]) -> None:
    """Stripes or checks of the second colour, clipped to the torso outline."""
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).polygon([frame.pt(x, y) for x, y in outline], fill=255)
    period = max(2.0, p.stripe_period * frame.height)
    rows = np.arange(image.size[1], dtype=np.float32)[:, None] - frame.top
    cols = np.arange(image.size[0], dtype=np.float32)[None, :] - frame.cx
    on = ((rows // (period / 2)) % 2 == 0)
    if p.pattern == "checks":
        on = on ^ ((cols // (period / 2)) % 2 == 0)
    pattern = np.where(on, np.asarray(mask), 0).astype(np.uint8)
    image.paste(p.upper_second, mask=Image.fromarray(pattern, "L"))


def _suitcase(frame: _Frame, x: float, color: Color, *, handle_to: tuple[float, float], width: float = 0.13) -> None:
    x0, x1 = x - width / 2, x + width / 2
    frame.line((x, 0.67), handle_to, 0.012, (70, 70, 75))
    frame.rect(x0, 0.66, x1, 0.96, color)
    frame.rect(x0, 0.7, x1, 0.715, _darker(color, 0.7))
    frame.ellipse(x0 + 0.015, 0.975, 0.014, 0.014, (20, 20, 20))
    frame.ellipse(x1 - 0.015, 0.975, 0.014, 0.014, (20, 20, 20))


def _head_facing(frame: _Frame, p: Appearance, *, front: bool) -> None:
    frame.ellipse(0.0, _HEAD_Y, _HEAD_RX, _HEAD_RY, p.skin if front else p.hair)
    if front:
        hair_to = {"short": 0.035, "medium": 0.05, "long": 0.055}[p.hair_length]
        frame.poly([(-_HEAD_RX, hair_to + 0.02), (-_HEAD_RX * 0.8, 0.01), (_HEAD_RX * 0.8, 0.01), (_HEAD_RX, hair_to + 0.02), (0.0, hair_to)], p.hair)
        frame.ellipse(0.0, 0.03, _HEAD_RX * 0.92, 0.03, p.hair)
        eye = _darker(p.skin, 0.35)
        frame.ellipse(-0.02, 0.08, 0.007, 0.006, eye)
        frame.ellipse(0.02, 0.08, 0.007, 0.006, eye)
    if p.hat is not None:
        frame.ellipse(0.0, 0.028, _HEAD_RX * 1.05, 0.03, p.hat)
        if front:
            frame.rect(-_HEAD_RX * 0.9, 0.035, _HEAD_RX * 0.9, 0.045, _darker(p.hat, 0.7))


def _head_profile(frame: _Frame, p: Appearance, lean: float) -> None:
    x = 0.008 + lean
    frame.ellipse(x, _HEAD_Y, _HEAD_RX * 0.95, _HEAD_RY, p.skin)
    back = {"short": 0.6, "medium": 0.75, "long": 0.85}[p.hair_length]
    frame.ellipse(x - 0.012, _HEAD_Y - 0.012, _HEAD_RX * back, _HEAD_RY * 0.85, p.hair)
    frame.ellipse(x + 0.033, 0.078, 0.006, 0.006, _darker(p.skin, 0.35))
    if p.hat is not None:
        frame.ellipse(x, 0.028, _HEAD_RX, 0.03, p.hat)
        frame.rect(x, 0.035, x + 0.075, 0.046, _darker(p.hat, 0.7))


def _darker(color: Color, factor: float) -> Color:
    return (int(color[0] * factor), int(color[1] * factor), int(color[2] * factor))


def _shade(color: Color, rng: np.random.Generator, spread: float) -> Color:
    jitter = rng.normal(0.0, spread, 3)
    return tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(color, jitter, strict=True))  # type: ignore[return-value]


def _nearest(color: Color, palette: tuple[Color, ...]) -> int:
    return int(np.argmin([sum((a - b) ** 2 for a, b in zip(color, entry, strict=True)) for entry in palette]))
