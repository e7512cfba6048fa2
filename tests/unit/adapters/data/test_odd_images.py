"""Image cases beyond tests/unit/data/test_image_loading.py: huge files, tiny ones, 16-bit RGB,
and a file whose suffix lies about its format."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reidkit.adapters.data.images import load_image
from reidkit.adapters.data.transforms import build_test_transform, build_train_transform
from reidkit.domain.errors import ImageLoadError


def _png_rgb16(path: Path, pixels: np.ndarray) -> Path:
    """A 48-bit RGB PNG written by hand (Pillow writes 16 bits per channel only for grey)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    height, width, _ = pixels.shape
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("pixels_over_limit", [1.5, 3.0])  # Pillow warns past 1x and refuses past 2x
def test_an_image_over_the_pixel_limit_is_refused_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pixels_over_limit: float
) -> None:
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", int(64 * 64 / pixels_over_limit))
    with pytest.raises(ImageLoadError, match=r"huge\.jpg cannot be decoded safely, it is too large: .*4096 pixels") as error:
        load_image(path)
    assert "\n" not in str(error.value)


def test_an_image_at_the_pixel_limit_still_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (64, 64), (9, 8, 7)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64)
    assert load_image(path).getpixel((63, 63)) == (9, 8, 7)


def test_a_one_pixel_image_is_resized_like_any_other(tmp_path: Path) -> None:
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (255, 0, 0)).save(path)
    image = load_image(path)
    test = build_test_transform(32, 16)(image)
    torch.manual_seed(0)
    train = build_train_transform(32, 16, pad=2, erasing_p=0.0)(image)
    assert test.shape == train.shape == (3, 32, 16)
    assert torch.allclose(test, test[:, :1, :1].expand_as(test))  # one colour everywhere


def test_sixteen_bit_rgb_png_becomes_eight_bit_rgb(tmp_path: Path) -> None:
    path = _png_rgb16(tmp_path / "rgb16.png", np.array([[[65535, 0, 0], [0, 32896, 257]]]))
    out = np.asarray(load_image(path))
    np.testing.assert_array_equal(out, [[[255, 0, 0], [0, 128, 1]]])


@pytest.mark.parametrize(("name", "fmt"), [("really_png.jpg", "PNG"), ("really_jpeg.png", "JPEG")])
def test_the_content_decides_the_format_not_the_suffix(tmp_path: Path, name: str, fmt: str) -> None:
    path = tmp_path / name
    Image.new("RGB", (4, 6), (0, 200, 0)).save(path, format=fmt)
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (4, 6)
    assert image.getpixel((1, 1))[1] > 180
