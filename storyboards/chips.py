"""Camera language in a prompt as chips: what each phrase would set in the camera panel."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from generation.engine.camera_language import parse_camera_language


@dataclass(frozen=True)
class Chip:
    """One recognised phrase. ``values`` maps composer field names to what accepting the chip
    sets; an out-of-range phrase has an ``error`` and nothing to accept."""

    index: int
    start: int
    end: int
    text: str
    label: str
    field: str
    values: dict[str, str] = dataclasses.field(default_factory=dict)
    error: str = ""

    @property
    def values_json(self) -> str:
        return json.dumps(self.values)


def _values(field_name: str, phrase: str) -> dict[str, str]:
    """Re-parse the phrase alone: its own value, even when an earlier phrase set the field."""
    parsed = parse_camera_language(phrase)
    if field_name == "moves" and parsed.moves:
        move = parsed.moves[0]
        if move.kind == "static":
            return {"move": ""}
        return {"move": f"{move.kind}:{move.direction}", "move_speed": f"{move.speed:g}"}
    if field_name == "easing" and parsed.moves:
        return {"move_easing": parsed.moves[0].easing}
    if field_name == "easing":
        # An easing phrase alone parses to no move: read it from the label instead.
        return {}
    value = getattr(parsed, field_name, None)
    if value is None:
        return {}
    return {field_name: value if isinstance(value, str) else f"{value:g}"}


_EASING_NAMES = {"ease in": "ease_in", "ease out": "ease_out", "ease in out": "ease_in_out"}


def camera_chips(prompt: str) -> list[Chip]:
    parsed = parse_camera_language(prompt)
    chips = []
    for index, span in enumerate(parsed.spans):
        phrase = prompt[span.start : span.end]
        error = "out of range" if "out of range" in span.label else ""
        values = {} if error else _values(span.field, phrase)
        if span.field == "easing" and not values:
            values = {"move_easing": _EASING_NAMES.get(span.label, "linear")}
        chips.append(
            Chip(
                index=index,
                start=span.start,
                end=span.end,
                text=phrase,
                label=span.label.replace(" (out of range)", ""),
                field=span.field,
                values=values,
                error=error,
            )
        )
    return chips


def prompt_without(prompt: str, chip: Chip) -> str:
    """The prompt with a chip's phrase taken out, tidying the comma or space it leaves."""
    before, after = prompt[: chip.start].rstrip(), prompt[chip.end :].lstrip()
    if before.endswith(",") and (not after or after[0] in ",."):
        before = before[:-1].rstrip()
    if after.startswith(",") and (not before or before.endswith(",")):
        after = after[1:].lstrip()
    joiner = " " if before and after and after[0] not in ",." else ""
    return f"{before}{joiner}{after}".strip()
