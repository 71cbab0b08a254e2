"""Camera language in prompts -> camera spec fields, with the spans that said so.

The studio shows each span as a chip ("dolly in · slow", "85 mm", "f/1.4") that the user keeps or
removes before the spec fills the camera panel. The same phrasings are what `world.captions`
writes, so generated captions parse back to their spec (tested).

Parsing is a table of regular expressions tried in priority order; a later match never overlaps an
earlier one, so "whip pan right" is one chip, not "pan right" plus a stray "whip".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from generation.engine.camera import (
    APERTURE_RANGE,
    FOCAL_RANGE_MM,
    NAMED_SPEEDS,
    SHUTTER_RANGE_DEG,
    CameraMove,
    CameraSpec,
)


@dataclass(frozen=True)
class Span:
    """A matched phrase: text[start:end], shown to the user as `label`; `field` is what it sets."""

    start: int
    end: int
    label: str
    field: str


@dataclass(frozen=True)
class ParsedCamera:
    """Camera fields found in a prompt. None means the prompt did not say."""

    focal_mm: float | None = None
    aperture: float | None = None
    focus_m: float | None = None
    shutter_deg: float | None = None
    aspect: str | None = None
    moves: tuple[CameraMove, ...] = ()
    spans: tuple[Span, ...] = ()
    errors: tuple[str, ...] = field(default=())

    def to_spec(self, base: CameraSpec | None = None) -> CameraSpec:
        """The spec this prompt asks for: `base` (defaults) with every parsed field applied."""
        spec = base or CameraSpec()
        changes: dict[str, Any] = {}
        for name in ("focal_mm", "aperture", "focus_m", "shutter_deg", "aspect"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        if self.moves:
            changes["moves"] = self.moves
        return replace(spec, **changes)


_NUM = r"(\d+(?:\.\d+)?)"
_SPEED_ALTS = "very slow|slow|slowly|gentle|gently|gradual|steady|quick|fast|rapid|whip"
_SPEED = r"(?:(?P<speed>" + _SPEED_ALTS + r")[\s-]+)?"

# (regex, kind, direction) — direction None means "taken from the named group `dir`".
_MOVE_PATTERNS: list[tuple[str, str, str | None]] = [
    (
        _SPEED + r"(?:push(?:es|ing)?[\s-]?in|dolly(?:ing|ies)?[\s-]?in|track(?:s|ing)?[\s-]in|"
        r"move(?:s)? in)\b",
        "dolly",
        "in",
    ),
    (
        _SPEED + r"(?:pull(?:s|ing)?[\s-]?(?:out|back)|dolly(?:ing|ies)?[\s-]?(?:out|back)|"
        r"track(?:s|ing)?[\s-]out)\b",
        "dolly",
        "out",
    ),
    (_SPEED + r"(?:pan(?:s|ning)?)[\s-]+(?:to the\s+)?(?P<dir>left|right)\b", "pan", None),
    (_SPEED + r"(?:tilt(?:s|ing)?)[\s-]+(?P<dir>up|down)\b", "tilt", None),
    (
        _SPEED + r"(?:truck(?:s|ing)?|crab(?:s|bing)?|lateral track(?:ing)?|slide(?:s)?)[\s-]+"
        r"(?:to the\s+)?(?P<dir>left|right)\b",
        "truck",
        None,
    ),
    (
        _SPEED + r"(?:crane(?:s)?|boom(?:s)?|jib(?:s)?|pedestal(?:s)?|craning|booming)[\s-]+"
        r"(?P<dir>up|down)\b",
        "crane",
        None,
    ),
    (
        _SPEED + r"(?:orbit(?:s|ing)?|arc(?:s|ing)?|circl(?:es|ing))[\s-]+(?:to the\s+)?"
        r"(?P<dir>left|right)\b",
        "orbit",
        None,
    ),
    (_SPEED + r"(?:zoom(?:s|ing)?)[\s-]?(?P<dir>in|out)\b", "zoom", None),
    (_SPEED + r"(?:hand[\s-]?held|shaky[\s-]?cam|shaky camera)\b", "handheld", "none"),
    (
        _SPEED + r"(?:steadicam|gimbal)(?:\s+(?:follow|glide))?(?:\s+(?P<dir>forward|backward))?\b",
        "steadicam",
        None,
    ),
    (r"(?:static|locked[\s-]off|tripod)(?:\s+(?:shot|camera|frame))?\b", "static", "none"),
]

_EASING_PATTERNS = [
    (r"\beas(?:ing|es|ed)? in and out\b|\bsmoothly eased\b", "ease_in_out"),
    (r"\beas(?:ing|es)? in\b|\baccelerating\b", "ease_in"),
    (r"\beas(?:ing|es)? out\b|\bdecelerating\b|\bsettling\b", "ease_out"),
]

_SPEED_WORDS = {
    "very slow": 0.25,
    "slow": NAMED_SPEEDS["slow"],
    "slowly": NAMED_SPEEDS["slow"],
    "gentle": NAMED_SPEEDS["slow"],
    "gently": NAMED_SPEEDS["slow"],
    "gradual": NAMED_SPEEDS["slow"],
    "steady": NAMED_SPEEDS["medium"],
    "quick": NAMED_SPEEDS["fast"],
    "fast": NAMED_SPEEDS["fast"],
    "rapid": NAMED_SPEEDS["fast"],
    "whip": NAMED_SPEEDS["whip"],
}

_ASPECT_PATTERNS = [
    (r"\b2\.39\s*:\s*1\b|\b2\.4\s*:\s*1\b|\banamorphic\b|\bcinemascope\b|\bscope\b", "2.39:1"),
    (r"\b9\s*:\s*16\b|\bvertical\b|\bportrait\b", "9:16"),
    (r"\b16\s*:\s*9\b|\bwidescreen\b", "16:9"),
    (r"\b4\s*:\s*3\b|\bacademy\b", "4:3"),
    (r"\b1\s*:\s*1\b|\bsquare\b", "1:1"),
]

_LENS_WORDS = [
    (r"\bultra[\s-]wide(?:[\s-]angle)?(?: lens)?\b", 14.0),
    (r"\bwide[\s-]angle(?: lens)?\b|\bwide lens\b", 24.0),
    (r"\bportrait lens\b", 85.0),
    (r"\btelephoto(?: lens)?\b|\blong lens\b", 135.0),
]


def _fmt(x: float) -> str:
    return f"{x:g}"


def parse_camera_language(text: str) -> ParsedCamera:
    """Find camera language in `text`.

    Returns the fields it sets plus the spans (start, end, label, field) that set them; values
    outside the camera's range are reported in `errors` (same messages as `CameraSpec`) and left
    unset.
    """
    lower = text.lower()
    taken: list[tuple[int, int]] = []
    spans: list[Span] = []
    errors: list[str] = []
    found: dict[str, Any] = {}
    moves: list[tuple[int, CameraMove]] = []

    def claim(m: re.Match[str], label: str, field_name: str) -> bool:
        s, e = m.span()
        if any(s < te and ts < e for ts, te in taken):
            return False
        taken.append((s, e))
        spans.append(Span(s, e, label, field_name))
        return True

    for pattern, kind, direction in _MOVE_PATTERNS:
        for m in re.finditer(r"\b" + pattern, lower):
            d = direction or m.groupdict().get("dir") or CameraMove.make(kind).direction
            word = m.groupdict().get("speed")
            speed = _SPEED_WORDS.get(word, 1.0) if word else 1.0
            if kind in ("static",) or any(mv.kind == kind for _, mv in moves):
                if kind == "static" and not moves and claim(m, "static", "moves"):
                    moves.append((m.start(), CameraMove()))
                continue
            label = CameraMove.make(kind, d).label + (f" · {word}" if word else "")
            if claim(m, label, "moves"):
                moves.append((m.start(), CameraMove.make(kind, d, speed=speed)))

    easing = None
    for pattern, name in _EASING_PATTERNS:
        for m in re.finditer(pattern, lower):
            if claim(m, name.replace("_", " "), "easing") and easing is None:
                easing = name

    for m in re.finditer(r"\b" + _NUM + r"\s?mm\b", lower):
        value = float(m.group(1))
        if not FOCAL_RANGE_MM[0] <= value <= FOCAL_RANGE_MM[1]:
            errors.append(f"focal length must be 14–200 mm, got {_fmt(value)}")
            claim(m, f"{_fmt(value)} mm (out of range)", "focal_mm")
        elif "focal_mm" not in found and claim(m, f"{_fmt(value)} mm", "focal_mm"):
            found["focal_mm"] = value
    for pattern, value in _LENS_WORDS:
        for m in re.finditer(pattern, lower):
            if "focal_mm" not in found and claim(m, f"{_fmt(value)} mm", "focal_mm"):
                found["focal_mm"] = value

    for m in re.finditer(r"\b[ft]\s?/\s?" + _NUM + r"\b|\b[ft]" + _NUM + r"\b", lower):
        value = float(m.group(1) or m.group(2))
        if not APERTURE_RANGE[0] <= value <= APERTURE_RANGE[1]:
            errors.append(f"aperture must be f/1.2–f/16, got f/{_fmt(value)}")
            claim(m, f"f/{_fmt(value)} (out of range)", "aperture")
        elif "aperture" not in found and claim(m, f"f/{_fmt(value)}", "aperture"):
            found["aperture"] = value
    for pattern, value in [
        (r"\bshallow (?:depth[\s-]of[\s-]field|dof|focus)\b|\bbokeh\b", 1.8),
        (r"\bdeep (?:depth[\s-]of[\s-]field|dof|focus)\b|\beverything in focus\b", 11.0),
    ]:
        for m in re.finditer(pattern, lower):
            label = "shallow depth of field" if value < 5 else "deep focus"
            if claim(m, label, "aperture") and "aperture" not in found:
                found["aperture"] = value

    shutter_re = (
        r"\b" + _NUM + r"\s?(?:°|º|deg(?:rees?)?|-degree)?[\s-]*shutter(?: angle)?\b"
        r"|\bshutter angle (?:of )?" + _NUM + r"\s?(?:°|deg(?:rees?)?)?"
    )
    for m in re.finditer(shutter_re, lower):
        value = float(m.group(1) or m.group(2))
        if not SHUTTER_RANGE_DEG[0] <= value <= SHUTTER_RANGE_DEG[1]:
            errors.append(f"shutter angle must be 45–360°, got {_fmt(value)}")
            claim(m, f"{_fmt(value)}° shutter (out of range)", "shutter_deg")
        elif "shutter_deg" not in found and claim(m, f"{_fmt(value)}° shutter", "shutter_deg"):
            found["shutter_deg"] = value
    for pattern, value in [
        (r"\bheavy motion blur\b|\bsmeared motion\b", 360.0),
        (r"\bcrisp motion\b|\bstaccato\b|\bno motion blur\b", 45.0),
    ]:
        for m in re.finditer(pattern, lower):
            if claim(m, f"{_fmt(value)}° shutter", "shutter_deg") and "shutter_deg" not in found:
                found["shutter_deg"] = value

    for pattern, aspect in _ASPECT_PATTERNS:
        for m in re.finditer(pattern, lower):
            if claim(m, aspect, "aspect") and "aspect" not in found:
                found["aspect"] = aspect

    focus_re = (
        r"\bfocus(?:ed|sed)?(?: distance)?(?: at| of)?\s+" + _NUM + r"\s?(?:m|metres|meters)\b"
    )
    for m in re.finditer(focus_re, lower):
        value = float(m.group(1))
        if claim(m, f"focus {_fmt(value)} m", "focus_m") and "focus_m" not in found:
            found["focus_m"] = value

    ordered = [mv for _, mv in sorted(moves, key=lambda x: x[0])]
    if len(ordered) > 1:
        ordered = [mv for mv in ordered if mv.kind != "static"]
    if easing is not None:
        ordered = [replace(mv, easing=easing) for mv in ordered]
    return ParsedCamera(
        moves=tuple(ordered),
        spans=tuple(sorted(spans, key=lambda s: s.start)),
        errors=tuple(errors),
        **found,
    )
