"""The shot composer and project forms. The composer edits exactly the engine's CameraSpec."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms

from dailies.models import Mode, Quality, Resolution, Team
from generation.engine.camera import (
    APERTURE_RANGE,
    EASINGS,
    FOCAL_RANGE_MM,
    FOCUS_RANGE_M,
    INTERPOLATIONS,
    MOVE_DIRECTIONS,
    SHUTTER_RANGE_DEG,
    SPEED_RANGE,
    CameraSpec,
)
from generation.engine.presets import ASPECTS
from generation.services import FPS_CHOICES, RenderRequest
from storyboards.models import Shot

MOVE_SLOTS = 3
MAX_VARIANTS = 4
MOVE_CHOICES = [("", "—")] + [
    (f"{kind}:{direction}", kind if direction == "none" else f"{kind} {direction}")
    for kind, directions in MOVE_DIRECTIONS.items()
    if kind != "static"
    for direction in directions
]
EASING_CHOICES = [(e, e.replace("_", " ")) for e in EASINGS]
# Modes the composer offers; start + end keyframes is refused by the render service, so it
# is shown disabled with the reason.
AVAILABLE_MODES = frozenset(
    {
        Mode.TEXT_TO_VIDEO.value,
        Mode.IMAGE_TO_VIDEO.value,
        Mode.VIDEO_TO_VIDEO.value,
        Mode.EXTEND.value,
    }
)
MODE_NOTE = "the render service does not take a start and an end frame yet"
SOURCE_MODES = frozenset({Mode.VIDEO_TO_VIDEO.value, Mode.EXTEND.value})


def plan_limit_message(team: Team, wanted: Resolution | None = None) -> str:
    """The plan's limits in one sentence, with what an upgrade buys when asked for."""
    text = f"{team.plan.name} plan: up to {team.max_resolution_label} and {team.max_duration_s} s"
    if wanted is not None and wanted > team.max_resolution:
        return f"{text} — upgrade for {Resolution(wanted).label}."
    return text + "."


class PlanSelect(forms.Select):
    """A select whose options above the plan's ceiling are shown but disabled."""

    def __init__(self, *args: Any, ceiling: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ceiling = ceiling

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if self.ceiling is not None and value not in ("", None) and int(value) > self.ceiling:
            option["attrs"]["disabled"] = True
            option["label"] = f"{label} · upgrade"
        return option


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=120, label="Project name")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the project a name.")
        return name


class ShotForm(forms.Form):
    title = forms.CharField(max_length=120, required=False)
    prompt = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "placeholder": "A red ball rolls across a tiled floor, slow push-in, 35mm f/2",
            }
        ),
    )
    mode = forms.ChoiceField(choices=Mode.choices, initial=Mode.TEXT_TO_VIDEO)
    image = forms.ImageField(
        required=False,
        label="Reference frame",
        help_text="Image to video: PNG, JPEG or WebP, up to 20 MB.",
    )
    source_job = forms.TypedChoiceField(
        coerce=int,
        required=False,
        empty_value=None,
        label="Start from",
        help_text="Restyle and extend start from a finished render of your team.",
    )
    strength = forms.FloatField(
        min_value=0.05,
        max_value=1.0,
        initial=0.6,
        required=False,
        label="Restyle strength",
        help_text="How far the restyle may move from its source: 0.05–1.",
        widget=forms.NumberInput(attrs={"step": "0.05"}),
    )
    duration_s = forms.IntegerField(min_value=1, max_value=30, initial=2, label="Duration (s)")
    fps = forms.TypedChoiceField(
        choices=[(f, f"{f} fps") for f in FPS_CHOICES], coerce=int, initial=24, label="Frame rate"
    )
    resolution = forms.TypedChoiceField(
        choices=Resolution.choices, coerce=int, initial=Resolution.P540
    )
    quality = forms.ChoiceField(
        choices=Quality.choices, initial=Quality.FLASH, widget=forms.RadioSelect
    )
    seed_mode = forms.ChoiceField(
        choices=[("random", "Random"), ("fixed", "Fixed")],
        initial="random",
        widget=forms.RadioSelect,
        label="Seed",
    )
    seed = forms.IntegerField(required=False, min_value=0, max_value=2**31 - 1, label="Seed value")
    variants = forms.IntegerField(
        min_value=1, max_value=MAX_VARIANTS, initial=1, label="Variants",
        help_text="Takes with seeds s, s+1, …",
    )  # fmt: skip
    focal_mm = forms.FloatField(
        min_value=FOCAL_RANGE_MM[0], max_value=FOCAL_RANGE_MM[1], initial=35, label="Focal length"
    )
    aperture = forms.FloatField(
        min_value=APERTURE_RANGE[0], max_value=APERTURE_RANGE[1], initial=5.6, label="Aperture"
    )
    focus_m = forms.FloatField(
        required=False,
        min_value=FOCUS_RANGE_M[0],
        max_value=FOCUS_RANGE_M[1],
        label="Focus distance",
        help_text="Empty: focus on the subject.",
    )
    shutter_deg = forms.FloatField(
        min_value=SHUTTER_RANGE_DEG[0],
        max_value=SHUTTER_RANGE_DEG[1],
        initial=180,
        label="Shutter angle",
    )
    aspect = forms.ChoiceField(
        choices=[(a, a) for a in ASPECTS], initial="16:9", widget=forms.RadioSelect
    )
    keyframes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        label="Keyframes (JSON)",
        help_text='[{"t": 0, "position": [0, 1.6, -6], "look_at": [0, 1, 0]}, …]',
    )
    interpolation = forms.ChoiceField(
        choices=[(i, i) for i in INTERPOLATIONS], initial="smooth", label="Between keyframes"
    )
    idempotency_key = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        team: Team,
        sources: list[tuple[int, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.team = team
        self.fields["source_job"].choices = [("", "— choose a finished render —"), *(sources or [])]
        self.fields["resolution"].widget = PlanSelect(
            choices=self.fields["resolution"].choices, ceiling=team.max_resolution
        )
        self.fields["duration_s"].widget.attrs["max"] = team.max_duration_s
        self.fields["resolution"].help_text = plan_limit_message(team)
        for slot in range(1, MOVE_SLOTS + 1):
            self.fields[f"move_{slot}"] = forms.ChoiceField(
                choices=MOVE_CHOICES, required=False, label=f"Move {slot}"
            )
            self.fields[f"move_{slot}_speed"] = forms.FloatField(
                min_value=SPEED_RANGE[0], max_value=SPEED_RANGE[1], initial=1.0, required=False,
                label="Speed", widget=forms.NumberInput(attrs={"step": "0.1"}),
            )  # fmt: skip
            self.fields[f"move_{slot}_easing"] = forms.ChoiceField(
                choices=EASING_CHOICES, initial="linear", required=False, label="Easing"
            )
        for name, step in (("focal_mm", "1"), ("aperture", "0.1"), ("shutter_deg", "1")):
            self.fields[name].widget.attrs["step"] = step
        self.fields["focus_m"].widget.attrs["step"] = "0.1"

    # --- values -------------------------------------------------------------------------

    @classmethod
    def initial_from_shot(cls, shot: Shot) -> dict[str, Any]:
        camera = CameraSpec.from_dict({**(shot.camera or {}), "aspect": shot.aspect})
        initial: dict[str, Any] = {
            "title": shot.title,
            "prompt": shot.prompt,
            "mode": shot.mode,
            "duration_s": shot.duration_s,
            "fps": shot.fps,
            "resolution": shot.resolution,
            "quality": shot.quality,
            "seed_mode": "random" if shot.seed is None else "fixed",
            "seed": shot.seed,
            "variants": shot.variants,
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

    @classmethod
    def fresh_initial(cls) -> dict[str, Any]:
        return {"idempotency_key": uuid.uuid4().hex}

    def move_slots(self) -> list[tuple[forms.BoundField, forms.BoundField, forms.BoundField]]:
        return [
            (self[f"move_{n}"], self[f"move_{n}_speed"], self[f"move_{n}_easing"])
            for n in range(1, MOVE_SLOTS + 1)
        ]

    # --- validation ---------------------------------------------------------------------

    def clean_mode(self) -> str:
        mode = self.cleaned_data["mode"]
        if mode not in AVAILABLE_MODES:
            raise forms.ValidationError(
                f"{Mode(mode).label} {MODE_NOTE}; start from text to video."
            )
        return mode

    def clean_resolution(self) -> int:
        resolution = self.cleaned_data["resolution"]
        if resolution > self.team.max_resolution:
            raise forms.ValidationError(plan_limit_message(self.team, Resolution(resolution)))
        return resolution

    def clean_duration_s(self) -> int:
        duration = self.cleaned_data["duration_s"]
        if duration > self.team.max_duration_s:
            raise forms.ValidationError(
                f"{self.team.plan.name} plan: clips up to {self.team.max_duration_s} s "
                "— upgrade for longer clips."
            )
        return duration

    def clean_keyframes(self) -> list[dict]:
        raw = (self.cleaned_data.get("keyframes") or "").strip()
        if not raw:
            return []
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Keyframes are not valid JSON: {exc.msg}.") from exc
        if not isinstance(data, list):
            raise forms.ValidationError("Keyframes must be a list.")
        return data

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        mode = data.get("mode")
        if mode == Mode.IMAGE_TO_VIDEO and not data.get("image"):
            self.add_error("image", "Image to video needs a reference frame: upload an image.")
        if mode in SOURCE_MODES and not data.get("source_job"):
            self.add_error("source_job", "Choose the render to start from.")
        if data.get("seed_mode") == "fixed" and data.get("seed") is None:
            self.add_error("seed", "Enter a seed, or choose Random.")
        moves = []
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
        if self.errors:
            return data
        camera = {
            "focal_mm": data["focal_mm"],
            "aperture": data["aperture"],
            "focus_m": data.get("focus_m"),
            "shutter_deg": data["shutter_deg"],
            "aspect": data["aspect"],
            "moves": moves or [{"kind": "static"}],
            "keyframes": data.get("keyframes") or [],
            "interpolation": data["interpolation"],
        }
        try:
            data["camera"] = CameraSpec.from_dict(camera).to_dict()
        except (ValueError, TypeError, KeyError) as exc:
            message = str(exc) if not isinstance(exc, KeyError) else f"missing {exc}"
            field = "keyframes" if "keyframe" in message else None
            self.add_error(field, f"Camera: {message}")
        return data

    # --- outputs ------------------------------------------------------------------------

    def render_inputs(self) -> dict[str, Any]:
        """The mode's inputs for the render request (the shot row does not keep them)."""
        d = self.cleaned_data
        inputs: dict[str, Any] = {}
        if d["mode"] == Mode.IMAGE_TO_VIDEO:
            inputs["image"] = d["image"]
        if d["mode"] in SOURCE_MODES:
            inputs["source_job_id"] = d["source_job"]
            inputs["strength"] = d.get("strength") or self.fields["strength"].initial
        return inputs

    def shot_fields(self) -> dict[str, Any]:
        """What the Shot row stores: the composer's last saved state."""
        d = self.cleaned_data
        return {
            "title": d["title"].strip(),
            "prompt": d["prompt"].strip(),
            "mode": d["mode"],
            "camera": d["camera"],
            "aspect": d["aspect"],
            "duration_s": d["duration_s"],
            "fps": d["fps"],
            "resolution": d["resolution"],
            "quality": d["quality"],
            "seed": d["seed"] if d["seed_mode"] == "fixed" else None,
            "variants": d["variants"],
        }


def shot_request(shot: Shot, **overrides: Any) -> RenderRequest:
    """The render request a shot's saved settings make."""
    fields = {
        "prompt": shot.prompt,
        "mode": shot.mode,
        "quality": shot.quality,
        "resolution": shot.resolution,
        "duration_s": shot.duration_s,
        "fps": shot.fps,
        "aspect": shot.aspect,
        "seed": shot.seed,
        "camera": shot.camera,
    }
    return RenderRequest(**(fields | overrides))
