"""Loads one image file as 8-bit RGB, or fails with one line naming the file.

A bad file fails at once (no retry loop: a truncated file stays truncated). A huge file is refused
above Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``, about 89 megapixels), and the
mode conversions avoid float64/float32 temporaries: a 30-megapixel RGBA PNG peaks at about 0.7 GB
(1.5 GB with float32), so the largest accepted one stays near 2 GB. A tiny one (even 1x1) is
returned as is and resized like any other.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from reidkit.domain.errors import ImageLoadError, one_line

_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


def load_image(path: str | Path) -> Image.Image:
    """The image at ``path`` in mode RGB (alpha composited on black, 16-bit scaled to 8-bit)."""
    file = Path(path)
    shown = one_line(str(file))  # a name with a newline must not break the one-line message
    if not file.is_file():
        raise ImageLoadError(f"image {shown} does not exist")
    if file.stat().st_size == 0:
        raise ImageLoadError(f"image {shown} is an empty (zero-byte) file")
    try:
        with warnings.catch_warnings():
            # The bomb warning (between 1x and 2x the pixel limit) becomes an error: bounded work.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                image.load()  # decodes now, so a truncated file fails here and not in a transform
                return _to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageLoadError(f"image {shown} cannot be decoded safely, it is too large: {_one_line(error)}") from None
    except UnidentifiedImageError as error:
        raise ImageLoadError(f"image {shown} cannot be decoded: {_one_line(error)}") from None
    except (OSError, SyntaxError, ValueError) as error:
        # Pillow reports truncated or corrupt data as OSError and some malformed headers as
        # SyntaxError or ValueError.
        raise ImageLoadError(f"image {shown} cannot be decoded: {_one_line(error)}") from None


def as_rgb(image: Image.Image) -> Image.Image:
    """``image`` in mode RGB, converted as :func:`load_image` converts a file's pixels."""
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image.copy()
    if mode in _SIXTEEN_BIT or mode in ("I", "F"):
        return _wide_to_rgb(image)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        return _composite_on_black(image.convert("RGBA"))
    return image.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


def _composite_on_black(image: Image.Image) -> Image.Image:
    # Black, not the stored colour, under transparent pixels: that colour is often garbage.
    rgba = np.asarray(image)
    # colour * alpha / 255 rounded, in uint16 (255 * 255 + 127 fits) rather than float32, whose
    # temporaries doubled the peak memory on a huge image. The + 127 rounds half up, and an exact
    # half cannot occur because 255 is odd.
    rgb = rgba[..., :3].astype(np.uint16)
    rgb *= rgba[..., 3:]
    rgb += 127
    rgb //= 255
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def _wide_to_rgb(image: Image.Image) -> Image.Image:
    values = np.asarray(image).astype(np.float32)  # holds every 16-bit value exactly
    if image.mode == "F":
        top = max(float(values.max(initial=0.0)), 1.0)  # float images: stretch to their own range
        values = values / top * 255.0
    elif image.mode in _SIXTEEN_BIT or values.max(initial=0.0) > 255:
        # 16-bit, or Pillow's 32-bit "I" holding 16-bit samples (some 16-bit files decode to it).
        values = values / 257.0
    grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(grey, "L").convert("RGB")


def _one_line(error: BaseException) -> str:
    text = one_line(" ".join(str(error).split()))
    return text or type(error).__name__
