"""Uploads are checked once, at the edge: type from the content, byte and pixel limits,
stills only, and nothing but the pixels kept."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from generation import uploads
from generation.uploads import UploadRefused, frame_from_bytes, frame_from_upload


def _encode(fmt: str, size=(64, 48), **save) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def _animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=100)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_stills_decode_to_a_png_of_their_pixels(fmt) -> None:
    data = _encode(fmt)
    frame = frame_from_upload(SimpleUploadedFile("holiday.bin", data))
    with Image.open(io.BytesIO(frame.png)) as img:
        assert (img.format, img.size, img.mode) == ("PNG", (64, 48), "RGB")
    assert frame.name == "holiday.png" and frame.pixels().shape == (48, 64, 3)


def test_the_type_is_read_from_the_content_not_the_name() -> None:
    frame = frame_from_upload(SimpleUploadedFile("looks.gif", _encode("JPEG")))
    assert (frame.width, frame.height) == (64, 48)
    with pytest.raises(UploadRefused, match="not an image we can read"):
        frame_from_upload(SimpleUploadedFile("looks.png", b"MZ\x90\x00 an executable"))


def test_exif_is_dropped_after_the_rotation_it_names() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    exif[0x010F] = "SecretCam"  # camera make
    data = _encode("JPEG", size=(64, 32), exif=exif.tobytes())
    frame = frame_from_bytes(data)
    assert (frame.width, frame.height) == (32, 64)
    with Image.open(io.BytesIO(frame.png)) as img:
        assert not img.getexif() and not img.info.get("exif")
    assert b"SecretCam" not in frame.png


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_animated("GIF"), "That GIF is animated"),
        (_animated("PNG"), "That PNG is animated"),
        (_animated("WEBP"), "That WebP is animated"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "Vector drawings"),
        (b'<?xml version="1.0"?><svg/>', "Vector drawings"),
        (b"%PDF-1.7\n", "Vector drawings"),
        (_encode("BMP"), "that file is BMP"),
        (_encode("TIFF"), "that file is TIFF"),
        (b"", "empty"),
        (_encode("PNG")[:60], "not an image we can read"),
        (_encode("PNG", size=(8, 8)), "at least 16 pixels"),
    ],
)
def test_what_cannot_be_a_frame_is_refused_with_a_sentence(data, message) -> None:
    with pytest.raises(UploadRefused, match=message) as refused:
        frame_from_bytes(data, field="end_image")
    assert refused.value.field == "end_image"


def test_pixel_limits_are_checked_before_the_pixels_are_decoded(monkeypatch) -> None:
    # A 9000 × 10 PNG is small in bytes; its header alone says it is too wide.
    data = _encode("PNG", size=(9000, 16))
    with pytest.raises(UploadRefused, match="9000 × 16"):
        frame_from_bytes(data)
    monkeypatch.setattr(uploads, "MAX_PIXELS", 64 * 48 - 1)
    with pytest.raises(UploadRefused, match="64 × 48"):
        frame_from_bytes(_encode("PNG"))


def test_byte_limit_is_checked_before_reading(monkeypatch) -> None:
    monkeypatch.setattr(uploads, "MAX_IMAGE_BYTES", 100)
    upload = SimpleUploadedFile("big.png", _encode("PNG", size=(256, 256)))
    with pytest.raises(UploadRefused, match="limited to"):
        frame_from_upload(upload)


def test_a_frame_of_the_studios_own_pixels_round_trips() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    frame = uploads.frame_from_pixels(pixels, name="job-1-last.png")
    assert np.array_equal(frame.pixels(), pixels)
