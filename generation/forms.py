"""The camera panel. :class:`CameraForm` is what the shot composer extends: its
fields, their ranges (the engine's own constants) and the one ``CameraSpec`` it cleans to;
``templates/generation/_camera_panel.html`` draws it."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from generation.engine.camera import (
    APERTURE_RANGE,
    ASPECT_RATIOS,
    EASINGS,
    FOCAL_RANGE_MM,
    FOCUS_RANGE_M,
    INTERPOLATIONS,
    MAX_KEYFRAMES,
    MOVE_DIRECTIONS,
    SHUTTER_RANGE_DEG,
    SPEED_RANGE,
    CameraSpec,
    Keyframe,
)

MOVE_SLOTS = 3
MOVE_CHOICES = [("", "—")] + [
    (f"{kind}:{direction}", kind if direction == "none" else f"{kind} {direction}")
    for kind, directions in MOVE_DIRECTIONS.items()
    if kind != "static"
    for direction in directions
]
EASING_CHOICES = [(e, e.replace("_", " ")) for e in EASINGS]
DEFAULT = CameraSpec()
# Room for MAX_KEYFRAMES keyframes with every optional field, pretty-printed.
MAX_KEYFRAMES_JSON = 16_000


def _number(
    bounds: tuple[float, float], *, initial: float | None, label: str, step: str, **kwargs: Any
) -> forms.FloatField:
    return forms.FloatField(
        min_value=bounds[0],
        max_value=bounds[1],
        initial=initial,
        label=label,
        widget=forms.NumberInput(attrs={"step": step}),
        **kwargs,
    )


class CameraForm(forms.Form):
    """The camera panel: lens, aperture and focus, shutter, aspect, up to three composed
    moves and custom keyframes. Cleans to ``cleaned_data["camera"]``, a ``CameraSpec``."""

    focal_mm = _number(FOCAL_RANGE_MM, initial=DEFAULT.focal_mm, label="Focal length", step="1")
    aperture = _number(APERTURE_RANGE, initial=DEFAULT.aperture, label="Aperture", step="0.1")
    focus_m = _number(
        FOCUS_RANGE_M,
        initial=None,
        label="Focus distance",
        step="0.1",
        required=False,
        help_text="Empty: focus on the subject.",
    )
    shutter_deg = _number(
        SHUTTER_RANGE_DEG, initial=DEFAULT.shutter_deg, label="Shutter angle", step="1"
    )
    aspect = forms.ChoiceField(
        choices=[(a, a) for a in ASPECT_RATIOS], initial=DEFAULT.aspect, widget=forms.RadioSelect
    )
    keyframes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        label="Keyframes (JSON)",
        help_text='[{"t": 0, "position": [0, 1.6, -6], "look_at": [0, 1, 0]}, …]',
    )
    interpolation = forms.ChoiceField(
        choices=[(i, i) for i in INTERPOLATIONS],
        initial=DEFAULT.interpolation,
        required=False,  # only keyframes use it
        label="Between keyframes",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for slot in range(1, MOVE_SLOTS + 1):
            self.fields[f"move_{slot}"] = forms.ChoiceField(
                choices=MOVE_CHOICES, required=False, label=f"Move {slot}"
            )
            self.fields[f"move_{slot}_speed"] = _number(
                SPEED_RANGE, initial=1.0, label="Speed", step="0.1", required=False
            )
            self.fields[f"move_{slot}_easing"] = forms.ChoiceField(
                choices=EASING_CHOICES, initial="linear", required=False, label="Easing"
            )

    @staticmethod
    def camera_initial(camera: CameraSpec) -> dict[str, Any]:
        """The panel's values for a saved camera."""
        initial: dict[str, Any] = {
            "focal_mm": camera.focal_mm,
            "aperture": camera.aperture,
            "focus_m": camera.focus_m,
            "shutter_deg": camera.shutter_deg,
            "aspect": camera.aspect,
            "interpolation": camera.interpolation,
            "keyframes": json.dumps([k.to_dict() for k in camera.keyframes])
            if camera.keyframes
            else "",
        }
        moves = [m for m in camera.moves if m.kind != "static"]
        for slot, move in enumerate(moves[:MOVE_SLOTS], start=1):
            initial[f"move_{slot}"] = f"{move.kind}:{move.direction}"
            initial[f"move_{slot}_speed"] = move.speed
            initial[f"move_{slot}_easing"] = move.easing
        return initial

    def move_slots(self) -> list[tuple[forms.BoundField, forms.BoundField, forms.BoundField]]:
        return [
            (self[f"move_{n}"], self[f"move_{n}_speed"], self[f"move_{n}_easing"])
            for n in range(1, MOVE_SLOTS + 1)
        ]

    def clean_keyframes(self) -> list[dict[str, Any]]:
        raw = (self.cleaned_data.get("keyframes") or "").strip()
        if not raw:
            return []
        if len(raw) > MAX_KEYFRAMES_JSON:
            raise forms.ValidationError(
                f"Keyframes are limited to {MAX_KEYFRAMES_JSON:,} characters of JSON."
            )
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Keyframes are not valid JSON: {exc.msg}.") from exc
        except RecursionError as exc:  # brackets nested past what the parser follows
            raise forms.ValidationError("Keyframes are nested too deeply.") from exc
        if not isinstance(data, list) or not all(isinstance(k, dict) for k in data):
            raise forms.ValidationError("Keyframes must be a list of objects.")
        if len(data) > MAX_KEYFRAMES:
            raise forms.ValidationError(f"A path has at most {MAX_KEYFRAMES} keyframes.")
        for number, keyframe in enumerate(data, start=1):
            try:
                Keyframe.from_dict(keyframe)
            except KeyError as exc:
                raise forms.ValidationError(f"Keyframe {number}: missing {exc}.") from exc
            except (ValueError, TypeError) as exc:
                raise forms.ValidationError(f"Keyframe {number}: {exc}.") from exc
        return data

    def _moves(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        moves: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for slot in range(1, MOVE_SLOTS + 1):
            value = data.get(f"move_{slot}")
            if not value:
                continue
            kind, direction = value.split(":")
            if kind in seen:
                self.add_error(
                    f"move_{slot}",
                    f"{kind.title()} is already move {seen[kind]}: each kind of move once.",
                )
                continue
            seen[kind] = slot
            moves.append(
                {
                    "kind": kind,
                    "direction": direction,
                    "speed": data.get(f"move_{slot}_speed") or 1.0,
                    "easing": data.get(f"move_{slot}_easing") or "linear",
                }
            )
        return moves

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        moves = self._moves(data)
        camera_fields = ("focal_mm", "aperture", "shutter_deg", "aspect")
        if any(name not in data for name in camera_fields) or self.has_error("keyframes"):
            return data  # the field's own error says what is wrong
        try:
            data["camera"] = CameraSpec.from_dict(
                {
                    "focal_mm": data["focal_mm"],
                    "aperture": data["aperture"],
                    "focus_m": data.get("focus_m"),
                    "shutter_deg": data["shutter_deg"],
                    "aspect": data["aspect"],
                    "moves": moves or [{"kind": "static"}],
                    "keyframes": data.get("keyframes") or [],
                    "interpolation": data.get("interpolation") or DEFAULT.interpolation,
                }
            )
        except (ValueError, TypeError, KeyError) as exc:
            message = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            self.add_error("keyframes" if "keyframe" in message else None, f"Camera: {message}")
        return data
