"""Reading a user's picture as grayscale in [0, 1], whatever the file holds.

``Image.convert("L")`` alone gets several ordinary pictures wrong, each silently:

* a phone photo stores its pixels sideways plus an EXIF "orientation" tag: without
  ``ImageOps.exif_transpose`` a "2" is classified lying on its side;
* a digit drawn on a transparent background (RGBA, LA, or a palette with a transparent colour)
  usually has black RGB under the transparent pixels: dropping alpha turns a black digit on
  "nothing" into black on black.  We lay the picture on white when its visible ink is dark,
  on black when it is light;
* 16-bit grayscale ("I;16") is clipped to 0-255 by ``convert("L")``: almost all white.  We scale
  by the format's own range instead.
"""
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .checks import existing_file

__all__ = ["load_gray"]


def load_gray(path):
    """A picture -> (H, W) float32 in [0, 1]; one clear ``SystemExit`` line if it cannot be read."""
    path = existing_file("image", path)
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)       # also loads the pixels: errors show here
            return _to_gray(img)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise SystemExit(f"error: cannot read image {path}: {e}")


def _to_gray(img):
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):    # high bit depth
        a = np.asarray(img, dtype=np.float64)
        if img.mode == "F":
            top = max(float(np.nanmax(a)), 1.0) if a.size else 1.0
        else:
            top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        return np.clip(a / top, 0, 1).astype(np.float32)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        gray = np.asarray(rgba.convert("L"), dtype=np.float32) / 255.0
        seen = alpha > 0.5
        ink_is_dark = gray[seen].mean() < 0.5 if seen.any() else True
        under = 1.0 if ink_is_dark else 0.0          # paper that contrasts with the ink
        return (gray * alpha + under * (1 - alpha)).astype(np.float32)
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0
