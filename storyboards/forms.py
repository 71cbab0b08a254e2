"""The shot composer and project forms. The composer's camera panel is the render forms'
one :class:`~generation.forms.CameraForm`; plan limits are judged by the render service
(``generation.requests``), which names the field it refuses."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms

from accounts.models import Team
from billing.limits import PlanLimits
from characters.selectors import PickerEntry, character_picker
from generation.engine.camera import CameraSpec
from generation.forms import CameraForm
from generation.models import RenderJob
from generation.requests import (
    FPS_CHOICES,
    LOOP_MODES,
    MAX_PROMPT,
    MAX_TAKES,
    SOURCE_MODES,
    RenderRequest,
    loop_refusal,
    mode_refusal,
    model_duration_refusal,
)
from generation.runtime import engine_info
from generation.uploads import Frame, UploadRefused, frame_from_upload
from generation.vocabulary import (
    MODE_CHOICES,
    QUALITY_CHOICES,
    RESOLUTION_CHOICES,
    Mode,
    Quality,
    Resolution,
)
from storyboards.models import Project, Shot

IMAGE_TYPES = "image/png,image/jpeg,image/webp,image/gif"
FRAME_MODES = (Mode.IMAGE, Mode.KEYFRAMES)


def _finished(job: RenderJob | None) -> bool:
    return job is not None and job.state == RenderJob.State.SUCCEEDED


class PlanSelect(forms.Select):
    """A select whose options above the plan's ceiling are shown but disabled."""

    def __init__(self, *args: Any, ceiling: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ceiling = ceiling

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option: dict[str, Any] = super().create_option(*args, **kwargs)
        value = option["value"]
        if self.ceiling is not None and value not in ("", None) and int(value) > self.ceiling:
            option["attrs"]["disabled"] = True
            option["label"] = f"{option['label']} · upgrade"
        return option


class CharacterPicker(forms.CheckboxSelectMultiple):
    """Character chips: one without a ready adapter is shown, with what it is waiting for,
    but cannot be ticked. One the shot already holds stays enabled, so it can be taken off."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entries: dict[int, PickerEntry] = {}

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option: dict[str, Any] = super().create_option(*args, **kwargs)
        entry = self.entries.get(int(option["value"]))
        if entry is not None:
            option["entry"] = entry
            if not entry.ready and not option["selected"]:
                option["attrs"]["disabled"] = True
        return option


class ProjectForm(forms.Form):
    # strip=False: a name of spaces reaches clean_name, which says what to do about it.
    name = forms.CharField(max_length=120, label="Project name", strip=False)

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the project a name.")
        return name


class ShotForm(CameraForm):
    title = forms.CharField(max_length=120, required=False)
    prompt = forms.CharField(
        max_length=MAX_PROMPT,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "placeholder": "A red ball rolls across a tiled floor, slow push-in, 35mm f/2",
            }
        ),
    )
    mode = forms.ChoiceField(choices=MODE_CHOICES, initial=Mode.TEXT)
    image = forms.FileField(
        required=False,
        label="Start frame",
        help_text="Image to video and keyframes: PNG, JPEG, WebP or a still GIF, up to 20 MB "
        "and 8K.",
        widget=forms.ClearableFileInput(attrs={"accept": IMAGE_TYPES}),
    )
    end_image = forms.FileField(
        required=False,
        label="End frame",
        help_text="Start + end keyframes: the clip runs from the start frame to this one.",
        widget=forms.ClearableFileInput(attrs={"accept": IMAGE_TYPES}),
    )
    source_job = forms.TypedChoiceField(
        coerce=int,
        required=False,
        empty_value=None,
        label="Start from",
        help_text="Restyle, extend and reframe start from a finished render of your team; a "
        "reframe sees it through the aspect ratio chosen in the camera panel.",
    )
    loop = forms.BooleanField(
        required=False,
        label="Loop",
        help_text=f"The camera goes out and back, so the last frame meets the first. "
        f"{loop_refusal(Mode.EXTEND)}",
        widget=forms.CheckboxInput(attrs={"data-loop-modes": " ".join(LOOP_MODES)}),
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
        choices=RESOLUTION_CHOICES, coerce=int, initial=Resolution.P540
    )
    quality = forms.ChoiceField(
        choices=QUALITY_CHOICES, initial=Quality.FLASH, widget=forms.RadioSelect
    )
    seed_mode = forms.ChoiceField(
        choices=[("random", "Random"), ("fixed", "Fixed")],
        initial="random",
        widget=forms.RadioSelect,
        label="Seed",
    )
    seed = forms.IntegerField(required=False, min_value=0, max_value=2**31 - 1, label="Seed value")
    variants = forms.IntegerField(
        min_value=1, max_value=MAX_TAKES, initial=1, label="Variants",
        help_text="Takes with seeds s, s+1, …",
    )  # fmt: skip
    characters = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        label="Locked characters",
        help_text="At most two per shot; or write @Name in the prompt.",
        widget=CharacterPicker,
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
        limits = PlanLimits.of(team)
        source_field: Any = self.fields["source_job"]
        source_field.choices = [("", "— choose a finished render —"), *(sources or [])]
        # Every character of the team is a choice, ready or not: the render service refuses
        # one that is not, in words the creator can act on.
        self.picker = character_picker(team=team)
        picker: Any = self.fields["characters"]
        picker.choices = [(e.character.pk, f"@{e.character.name}") for e in self.picker]
        picker.widget.entries = {e.character.pk: e for e in self.picker}
        self.fields["resolution"].widget = PlanSelect(
            choices=RESOLUTION_CHOICES, ceiling=limits.max_resolution
        )
        self.fields["duration_s"].widget.attrs["max"] = min(
            limits.max_duration_s, engine_info().max_duration_s
        )
        self.fields["resolution"].help_text = limits.summary()

    # --- values -------------------------------------------------------------------------

    @classmethod
    def initial_from_shot(cls, shot: Shot) -> dict[str, Any]:
        return {
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
            # Restyle, extend and reframe start from the shot's circled take when it is done.
            "source_job": shot.current_job_id if _finished(shot.current_job) else None,
            # Loop is a take's setting: the circled take's, as the composer asked for it.
            "loop": bool(shot.current_job and shot.current_job.recipe.get("loop")),
            "characters": [c.pk for c in shot.characters.all()],
            **cls.camera_initial(shot.camera),
        }

    @classmethod
    def fresh_initial(cls) -> dict[str, Any]:
        """A new key per page load: a double submit of the page renders once."""
        return {"idempotency_key": uuid.uuid4().hex}

    # --- validation ---------------------------------------------------------------------

    def clean_resolution(self) -> int:
        # The render service refuses it too; the form says every limit at once, in the
        # service's words.
        resolution: int = self.cleaned_data["resolution"]
        refusal = PlanLimits.of(self.team).resolution_refusal(resolution)
        if refusal:
            raise forms.ValidationError(refusal)
        return resolution

    def clean_duration_s(self) -> int:
        duration: int = self.cleaned_data["duration_s"]
        if self.data.get("mode") == Mode.RESTYLE:
            return duration  # a restyle keeps its source's length: the service's call
        refusal = model_duration_refusal(duration)
        if refusal:
            raise forms.ValidationError(refusal)
        if self.data.get("mode") == Mode.EXTEND:
            return duration  # an extension's limit is its total length: the service's call
        refusal = PlanLimits.of(self.team).duration_refusal(duration)
        if refusal:
            raise forms.ValidationError(refusal)
        return duration

    def _frame(self, name: str) -> Frame | None:
        """An upload checked and decoded once, here at the edge: the request carries its
        pixels, never the open file."""
        upload = self.cleaned_data.get(name)
        if not upload:
            return None
        try:
            return frame_from_upload(upload, field=name)
        except UploadRefused as exc:
            raise forms.ValidationError(exc.message) from exc

    def clean_image(self) -> Frame | None:
        return self._frame("image")

    def clean_end_image(self) -> Frame | None:
        return self._frame("end_image")

    def clean_mode(self) -> str:
        mode: str = self.cleaned_data["mode"]
        refusal = mode_refusal(Mode(mode))
        if refusal:
            raise forms.ValidationError(refusal)
        return mode

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        mode = data.get("mode")
        if mode == Mode.IMAGE and not data.get("image"):
            self.add_error("image", "Image to video needs a reference frame: upload an image.")
        if mode == Mode.KEYFRAMES:
            if not data.get("image") and "image" not in self.errors:
                self.add_error("image", "Start + end keyframes needs a start frame: upload one.")
            if not data.get("end_image") and "end_image" not in self.errors:
                self.add_error("end_image", "Start + end keyframes needs an end frame: upload one.")
        refusal = loop_refusal(Mode(mode)) if mode and data.get("loop") else None
        if refusal:
            self.add_error("loop", refusal)
        if mode in SOURCE_MODES and not data.get("source_job"):
            self.add_error("source_job", "Choose the render to start from.")
        if data.get("seed_mode") == "fixed" and data.get("seed") is None:
            self.add_error("seed", "Enter a seed, or choose Random.")
        return data

    # --- outputs ------------------------------------------------------------------------

    def shot_fields(self) -> dict[str, Any]:
        """What the Shot row stores: the composer's last saved state."""
        d = self.cleaned_data
        return {
            "title": d["title"].strip(),
            "prompt": d["prompt"].strip(),
            "mode": d["mode"],
            "camera": d["camera"],
            "aspect": d["camera"].aspect,
            "duration_s": d["duration_s"],
            "fps": d["fps"],
            "resolution": d["resolution"],
            "quality": d["quality"],
            "seed": d["seed"] if d["seed_mode"] == "fixed" else None,
            "variants": d["variants"],
        }

    def render_request(self) -> RenderRequest:
        """The request the composer asks to render, with the mode's inputs (which the shot
        row does not keep)."""
        d = self.cleaned_data
        mode = Mode(d["mode"])
        return RenderRequest(
            prompt=d["prompt"],
            mode=mode,
            quality=Quality(d["quality"]),
            resolution=d["resolution"],
            duration_s=d["duration_s"],
            fps=d["fps"],
            seed=d["seed"] if d["seed_mode"] == "fixed" else None,
            camera=d["camera"],
            image=d.get("image") if mode in FRAME_MODES else None,
            end_image=d.get("end_image") if mode == Mode.KEYFRAMES else None,
            source_job_id=d.get("source_job") if mode in SOURCE_MODES else None,
            strength=d.get("strength") or 0.6,
            loop=bool(d.get("loop")),
        )

    def draft_request(self) -> tuple[RenderRequest, int]:
        """The request and the number of takes as far as a form that is still being filled
        in tells: a field without a valid value yet counts at its initial value. The live
        estimate prices this; the render service judges it as it judges a real one."""
        d: dict[str, Any] = self.cleaned_data if self.is_bound and self.is_valid() else {}
        if self.is_bound and not d:
            d = self.cleaned_data  # what did validate, beside the errors

        def value(name: str) -> Any:
            if name in d and d[name] not in (None, ""):
                return d[name]
            try:  # the field's own parsing, without the plan checks the service makes
                parsed = self.fields[name].clean(self.data.get(name))
            except forms.ValidationError:
                parsed = None
            if parsed not in (None, ""):
                return parsed
            return self.initial.get(name, self.fields[name].initial)

        mode = Mode(value("mode"))
        camera = d.get("camera") or CameraSpec(aspect=value("aspect"))
        request = RenderRequest(
            prompt=d.get("prompt") or "",
            mode=mode,
            quality=Quality(value("quality")),
            resolution=int(value("resolution")),
            duration_s=int(value("duration_s")),
            fps=int(value("fps")),
            camera=camera,
            source_job_id=d.get("source_job") if mode in SOURCE_MODES else None,
            strength=d.get("strength") or 0.6,
            loop=bool(value("loop")),
        )
        return request, int(value("variants"))


class StoryboardFormatForm(forms.ModelForm):
    """The storyboard's frame and rate: the export conforms every shot to them."""

    class Meta:
        model = Project
        fields = ["aspect", "fps"]
