"""cli.images.load_gray: pictures as users make them (transparent, 16-bit, phone photos)."""
import numpy as np
import pytest
from PIL import Image

from minitorch_cnn.cli.images import load_gray


def stroke():
    """A 40x30 picture: a dark vertical bar (the "ink") in the left half."""
    ink = np.zeros((40, 30), bool)
    ink[5:35, 6:10] = True
    return ink


def test_plain_grayscale(tmp_path):
    ink = stroke()
    Image.fromarray(np.where(ink, 0, 255).astype(np.uint8)).save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_gray(tmp_path / "a.png"), np.where(ink, 0.0, 1.0))


@pytest.mark.parametrize("ink_value, under", [(0, 1.0), (255, 0.0)])
def test_transparent_background_is_laid_on_contrasting_paper(tmp_path, ink_value, under):
    # black (or white) ink on fully transparent pixels whose RGB is black: convert("L") alone
    # would give black on black for the dark digit
    ink = stroke()
    rgba = np.zeros((40, 30, 4), np.uint8)
    rgba[ink, :3], rgba[ink, 3] = ink_value, 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    gray = load_gray(tmp_path / "t.png")
    np.testing.assert_allclose(gray[ink], ink_value / 255)
    np.testing.assert_allclose(gray[~ink], under)


def test_16_bit_grayscale_keeps_its_range(tmp_path):
    ink = stroke()
    a = np.where(ink, 1000, 60000).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as img:
        assert img.mode.startswith("I")                 # really stored with 16 bits
    gray = load_gray(tmp_path / "deep.png")
    np.testing.assert_allclose(gray, a / 65535, rtol=1e-6)


def test_exif_orientation_is_applied(tmp_path):
    ink = stroke()
    img = Image.fromarray(np.where(ink, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6                                     # "rotate 90 CW to display"
    img.save(tmp_path / "phone.jpg", exif=exif, quality=100)
    gray = load_gray(tmp_path / "phone.jpg")
    assert gray.shape == (30, 40)                        # displayed upright: width and height swap
    np.testing.assert_allclose(gray, np.rot90(np.where(ink, 0.0, 1.0), -1), atol=0.1)


def test_unreadable_inputs_are_one_clear_line(tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="is a folder"):
        load_gray(tmp_path)
    with pytest.raises(SystemExit, match="does not exist"):
        load_gray(tmp_path / "nope.png")
    (tmp_path / "text.png").write_text("not a picture")
    with pytest.raises(SystemExit, match="cannot read image"):
        load_gray(tmp_path / "text.png")
    Image.new("L", (200, 200)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # what a decompression bomb trips
    with pytest.raises(SystemExit, match="cannot read image"):
        load_gray(tmp_path / "big.png")
