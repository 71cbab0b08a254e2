"""Images from outside, checked once at the edge.

Every still that reaches a render (the composer's start and end frames, an API upload) goes
through :func:`frame_from_upload` or :func:`frame_from_bytes`: the type is read from the
content, never from the name or the browser's word; size is bounded in bytes before
anything is decoded and in pixels before the pixels are; animated and vector files are
refused with a sentence; and what comes out is a :class:`Frame`, the pixels re-encoded as a
PNG that carries no metadata (EXIF, GPS, ICC, comments are dropped). A render request holds
a ``Frame``, never an open upload, so it can be copied, compared and kept without
touching the file again.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from django.core.files import File
from django.core.files.base import ContentFile
from PIL import Image, ImageOps, UnidentifiedImageError

from studio.errors import UserError

MAX_IMAGE_BYTES = 20 * 1024 * 1024
# 8K UHD (7680 × 4320) fits; anything larger is a decompression bomb or a scan.
MAX_PIXELS = 7680 * 4320
MAX_SIDE = 8192
MIN_SIDE = 16
# Stills the studio reads; a GIF is taken when it holds one frame.
FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP", "GIF": "GIF"}
ACCEPTED = "PNG, JPEG, WebP or a still GIF"
# Leading bytes of formats drawn as shapes, which have no pixels until someone renders them.
_VECTOR_MARKS = (b"<svg", b"<?xml", b"%PDF", b"%!PS", b"\xc5\xd0\xd3\xc6")


class UploadRefused(UserError):
    """An uploaded file that cannot be a frame; ``field`` names the form field."""


@dataclass(frozen=True)
class Frame:
    """A still checked at the edge: its pixels as a metadata-free PNG.

    Args:
        png: the pixels, RGB, re-encoded as PNG (nothing else of the upload survives).
        width, height: in pixels.
        sha256: of the bytes as they were sent, so the same file fingerprints the same.
        name: a file name for the PNG.
    """

    png: bytes = field(repr=False)
    width: int
    height: int
    sha256: str
    name: str = "frame.png"

    def as_file(self, name: str | None = None) -> ContentFile:
        """The PNG as a Django file, to save into a ``FileField``."""
        return ContentFile(self.png, name=name or self.name)

    def pixels(self) -> np.ndarray:
        """(H, W, 3) uint8."""
        with Image.open(io.BytesIO(self.png)) as img:
            return np.array(img.convert("RGB"))


def _refuse(message: str, field: str) -> UploadRefused:
    return UploadRefused(message, field=field)


def _encode(img: Image.Image, *, sha256: str, name: str) -> Frame:
    rgb = img.convert("RGB")  # drops alpha and palettes; a frame is opaque RGB
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG", compress_level=1)  # no pnginfo: nothing but pixels
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return Frame(
        png=buffer.getvalue(),
        width=rgb.width,
        height=rgb.height,
        sha256=sha256,
        name=f"{stem or 'frame'}.png",
    )


def frame_from_bytes(data: bytes, *, field: str = "image", name: str = "frame") -> Frame:
    """Check ``data`` and decode it into a :class:`Frame`.

    Raises:
        UploadRefused: too large, not an image, not a still, or not a format we read.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise _refuse(f"Images are limited to {MAX_IMAGE_BYTES // 2**20} MB.", field)
    if not data:
        raise _refuse("That file is empty: upload an image.", field)
    head = data[:512].lstrip().lower()
    if any(head.startswith(mark.lower()) for mark in _VECTOR_MARKS) or b"<svg" in head:
        raise _refuse(
            f"Vector drawings (SVG, PDF, EPS) have no pixels to start from: export a {ACCEPTED}.",
            field,
        )
    try:
        with warnings.catch_warnings():
            # PIL warns, then raises, on pixel counts past its own limit; both are a refusal.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                kind = img.format or ""
                if kind not in FORMATS:
                    raise _refuse(
                        f"Send a {ACCEPTED} image; that file is {kind or 'unknown'}.", field
                    )
                if getattr(img, "n_frames", 1) > 1 or getattr(img, "is_animated", False):
                    raise _refuse(
                        f"That {FORMATS[kind]} is animated: a frame is one still image. "
                        "Export the frame you want as a PNG.",
                        field,
                    )
                width, height = img.size
                if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
                    raise _refuse(
                        f"That image is {width} × {height}: frames are limited to {MAX_SIDE} "
                        "pixels a side and 8K (7680 × 4320) in all.",
                        field,
                    )
                if min(width, height) < MIN_SIDE:
                    raise _refuse(
                        f"That image is {width} × {height}: frames need at least {MIN_SIDE} "
                        "pixels a side.",
                        field,
                    )
                img.load()
                upright = ImageOps.exif_transpose(img)  # honour the camera's rotation, then drop it
                digest = hashlib.sha256(data).hexdigest()
                return _encode(upright, sha256=digest, name=name)
    except UploadRefused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refuse(f"That file is not an image we can read ({ACCEPTED}).", field) from None
    except Exception as exc:  # an upload is untrusted: a corrupt file makes PIL raise many types
        raise _refuse(f"That file is not an image we can read ({ACCEPTED}).", field) from exc


def frame_from_upload(upload: File, *, field: str = "image") -> Frame:
    """Check an uploaded file (a form's, an API's) and decode it; the upload is read once,
    never past the byte limit, and not kept."""
    if upload.size is not None and upload.size > MAX_IMAGE_BYTES:
        raise _refuse(f"Images are limited to {MAX_IMAGE_BYTES // 2**20} MB.", field)
    upload.seek(0)
    data = upload.read(MAX_IMAGE_BYTES + 1)
    name = (upload.name or "frame").rsplit("/", 1)[-1]
    return frame_from_bytes(data, field=field, name=name)


def frame_from_pixels(pixels: np.ndarray, *, name: str) -> Frame:
    """A frame of the studio's own making (a render's first or last frame)."""
    img = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", compress_level=1)
    return frame_from_bytes(buffer.getvalue(), name=name)
