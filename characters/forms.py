"""Forms of the character pages: a lock from uploads or from a take's frame."""

from __future__ import annotations

from typing import Any

from django import forms

from characters.models import MAX_REFERENCES
from characters.services import Box
from generation.uploads import Frame, UploadRefused, frame_from_upload


class MultipleImageInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Several files under one name; ``UploadLockForm`` checks each with the uploads module."""

    widget = MultipleImageInput

    def clean(self, data: Any, initial: Any = None) -> Any:
        return data


class LockForm(forms.Form):
    name = forms.CharField(max_length=40, help_text="What follows @ in a prompt, e.g. Mara.")
    description = forms.CharField(
        max_length=200,
        required=False,
        help_text="A few words about the figure: the caption the adapter is trained under.",
    )


class UploadLockForm(LockForm):
    references = MultipleImageField(
        widget=MultipleImageInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
        required=False,
        help_text=f"1 to {MAX_REFERENCES} images of the figure (PNG, JPEG or WebP).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frames: list[Frame] = []

    def clean_references(self) -> list[Frame]:
        files = self.files.getlist("references") if self.files else []
        if not 1 <= len(files) <= MAX_REFERENCES:
            raise forms.ValidationError(f"Upload 1 to {MAX_REFERENCES} reference images.")
        try:
            self.frames = [frame_from_upload(f, field="references") for f in files]
        except UploadRefused as exc:
            raise forms.ValidationError(exc.message) from exc
        return self.frames


class TakeLockForm(LockForm):
    """The shot page's lock: a take, a frame of it and the figure's box in its pixels
    (``static/js/characters.js`` fills them in as the creator drags)."""

    job = forms.IntegerField(widget=forms.HiddenInput)
    frame = forms.IntegerField(min_value=0, initial=0, label="Frame")
    x = forms.IntegerField(min_value=0, initial=0)
    y = forms.IntegerField(min_value=0, initial=0)
    w = forms.IntegerField(min_value=1, initial=1)
    h = forms.IntegerField(min_value=1, initial=1)

    def box(self) -> Box:
        d = self.cleaned_data
        return Box(x=d["x"], y=d["y"], w=d["w"], h=d["h"])
