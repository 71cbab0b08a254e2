"""The plans page's estimate and the admin's credit actions."""

from __future__ import annotations

from django import forms

from generation.vocabulary import QUALITY_CHOICES, RESOLUTION_CHOICES, Quality, Resolution


class EstimateForm(forms.Form):
    duration_s = forms.IntegerField(min_value=1, max_value=30, initial=5, label="Duration (s)")
    resolution = forms.TypedChoiceField(
        choices=RESOLUTION_CHOICES, coerce=int, initial=Resolution.P1080
    )
    quality = forms.ChoiceField(choices=QUALITY_CHOICES, initial=Quality.STANDARD)


class AdjustCreditsForm(forms.Form):
    credits = forms.IntegerField(
        help_text="Positive adds top-up credits; negative removes credits."
    )
    reason = forms.CharField(max_length=200)


class TopupForm(forms.Form):
    credits = forms.IntegerField(min_value=1)
    memo = forms.CharField(max_length=200, initial="Top-up purchase")
