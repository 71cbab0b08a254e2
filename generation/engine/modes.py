"""The engine's vocabulary: what a clip is made from (Mode) and how much work it gets (Quality).

Defined once here; the studio's Django choices derive from these enums.
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    TEXT = "t2v"
    IMAGE = "i2v"
    RESTYLE = "v2v"
    EXTEND = "extend"
    KEYFRAMES = "keyframes"
    REFRAME = "reframe"

    @property
    def label(self) -> str:
        return MODE_LABELS[self]


MODE_LABELS: dict[Mode, str] = {
    Mode.TEXT: "Text to video",
    Mode.IMAGE: "Image to video",
    Mode.RESTYLE: "Restyle",
    Mode.EXTEND: "Extend",
    Mode.KEYFRAMES: "Start + end keyframes",
    Mode.REFRAME: "Reframe",
}


class Quality(StrEnum):
    FLASH = "flash"
    STANDARD = "standard"
    PRO = "pro"

    @property
    def label(self) -> str:
        return self.value.capitalize()
