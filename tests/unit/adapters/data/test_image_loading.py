"""load_image: odd modes become 8-bit RGB; broken files fail with one line naming the file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reidkit.adapters.data.images import load_image
from reidkit.domain.errors import ImageLoadError


def _save(path: Path, image: Image.Image, **options: object) -> Path:
    image.save(path, **options)
    return path


def test_rgb_comes_back_unchanged_and_closed(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (6, 4, 3), dtype=np.uint8)
    path = _save(tmp_path / "a.png", Image.fromarray(pixels, "RGB"))
    image = load_image(path)
    assert image.mode == "RGB" and image.size == (4, 6)
    np.testing.assert_array_equal(np.asarray(image), pixels)
    path.unlink()  # the file is not held open
    assert np.asarray(image).shape == (6, 4, 3)


def test_grayscale_is_replicated_to_three_channels(tmp_path: Path) -> None:
    path = _save(tmp_path / "g.png", Image.fromarray(np.array([[0, 100], [200, 255]], np.uint8), "L"))
    out = np.asarray(load_image(path))
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[..., 0], [[0, 100], [200, 255]])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_rgba_is_composited_on_black(tmp_path: Path) -> None:
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, 0] = (200, 100, 50, 255)  # opaque: kept
    rgba[0, 1] = (200, 100, 50, 0)  # transparent: black, not the stored colour
    rgba[0, 2] = (200, 100, 50, 128)  # half: scaled
    out = np.asarray(load_image(_save(tmp_path / "a.png", Image.fromarray(rgba, "RGBA"))))
    np.testing.assert_array_equal(out[0, 0], (200, 100, 50))
    np.testing.assert_array_equal(out[0, 1], (0, 0, 0))
    np.testing.assert_allclose(out[0, 2], (100, 50, 25), atol=1)


def test_grey_with_alpha_is_composited(tmp_path: Path) -> None:
    la = Image.fromarray(np.array([[[180, 255], [180, 0]]], np.uint8), "LA")
    out = np.asarray(load_image(_save(tmp_path / "la.png", la)))
    np.testing.assert_array_equal(out[0], [(180, 180, 180), (0, 0, 0)])


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    out = np.asarray(load_image(_save(tmp_path / "c.jpg", cmyk, quality=95)))
    assert out.shape == (8, 8, 3)
    r, g, b = out.reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_png_is_scaled_to_eight_bits(tmp_path: Path) -> None:
    wide = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    path = _save(tmp_path / "w.png", Image.fromarray(wide))
    assert Image.open(path).mode.startswith("I")  # really a 16-bit file
    out = np.asarray(load_image(path))
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 128, 255])


def test_palette_images_with_and_without_transparency(tmp_path: Path) -> None:
    palette = Image.new("P", (2, 1))
    palette.putpalette([10, 20, 30, 250, 240, 230] + [0] * 762)
    palette.putpixel((0, 0), 0)
    palette.putpixel((1, 0), 1)
    plain = np.asarray(load_image(_save(tmp_path / "p.png", palette)))
    np.testing.assert_array_equal(plain[0], [(10, 20, 30), (250, 240, 230)])
    see_through = np.asarray(load_image(_save(tmp_path / "t.png", palette, transparency=1)))
    np.testing.assert_array_equal(see_through[0], [(10, 20, 30), (0, 0, 0)])


def test_bilevel_image(tmp_path: Path) -> None:
    path = _save(tmp_path / "b.png", Image.new("1", (3, 2), 1))
    out = np.asarray(load_image(path))
    assert out.shape == (2, 3, 3) and out.min() == 255


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.jpg", b"", "empty"),
        ("notes.jpg", b"this is a text file, not a picture\n", "cannot be decoded"),
    ],
)
def test_unreadable_files_name_the_file(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=reason) as error:
        load_image(path)
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_truncated_jpeg_names_the_file(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise, "RGB").save(buffer, format="JPEG", quality=95)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match=r"cut\.jpg cannot be decoded") as error:
        load_image(path)
    assert "\n" not in str(error.value)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match=r"gone\.jpg does not exist"):
        load_image(tmp_path / "gone.jpg")


def test_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(tmp_path / "big.png", Image.new("RGB", (64, 64)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4096 px > 2x the limit
    with pytest.raises(ImageLoadError, match=r"big\.png cannot be decoded"):
        load_image(path)
