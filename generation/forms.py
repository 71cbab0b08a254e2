from __future__ import annotations

from django import forms

from dailies.models import Quality, Resolution
from generation.engine.camera import MOVE_DIRECTIONS
from generation.engine.presets import ASPECTS
from generation.services import FPS_CHOICES, RenderRequest

MOVE_CHOICES = [
    (f"{kind}:{direction}", kind if direction == "none" else f"{kind} {direction}")
    for kind, directions in MOVE_DIRECTIONS.items()
    for direction in directions
]


class RenderForm(forms.Form):
    """A compact render request: the studio's composer builds the same RenderRequest."""

    prompt = forms.CharField(
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": "A red ball bounces across a tiled floor at golden hour",
            }
        ),
        max_length=2000,
    )
    quality = forms.ChoiceField(choices=Quality.choices, initial=Quality.FLASH)
    resolution = forms.TypedChoiceField(
        choices=Resolution.choices, coerce=int, initial=Resolution.P540
    )
    duration_s = forms.IntegerField(min_value=1, max_value=30, initial=2, label="Duration (s)")
    fps = forms.TypedChoiceField(
        choices=[(f, f"{f} fps") for f in FPS_CHOICES], coerce=int, initial=24, label="Frame rate"
    )
    aspect = forms.ChoiceField(choices=[(a, a) for a in ASPECTS], initial="16:9")
    focal_mm = forms.FloatField(min_value=14, max_value=200, initial=35, label="Focal length (mm)")
    aperture = forms.FloatField(min_value=1.2, max_value=16, initial=4, label="Aperture (f/)")
    shutter_deg = forms.FloatField(min_value=45, max_value=360, initial=180, label="Shutter (°)")
    move = forms.ChoiceField(choices=MOVE_CHOICES, initial="static:none", label="Camera move")
    seed = forms.IntegerField(required=False, min_value=0, help_text="Empty: a new seed each time.")
    idempotency_key = forms.CharField(required=False, widget=forms.HiddenInput)

    def to_request(self) -> RenderRequest:
        d = self.cleaned_data
        kind, direction = d["move"].split(":")
        return RenderRequest(
            prompt=d["prompt"],
            quality=d["quality"],
            resolution=d["resolution"],
            duration_s=d["duration_s"],
            fps=d["fps"],
            aspect=d["aspect"],
            seed=d["seed"],
            camera={
                "focal_mm": d["focal_mm"],
                "aperture": d["aperture"],
                "shutter_deg": d["shutter_deg"],
                "moves": [{"kind": kind, "direction": direction}],
            },
        )
