"""Credit estimates: one function used by the studio, the API and job submission.

The reference price is the active price book's ``base_credits`` for a ``base_seconds``
clip at 1080p, Standard quality, text-to-video. Factors for resolution, quality and
mode multiply it as exact fractions, and the product is rounded up once, so Flash is
exactly "a third of Standard, rounded up". 4K is a 1080p render plus an upscale
surcharge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from django.db import transaction

from billing.models import PriceBook, PricingFactor
from generation.vocabulary import Mode, Quality, Resolution
from studio.errors import UserError

Dimension = PricingFactor.Dimension

# The seeds' numbers: 5 s 1080p Standard ≈ 10 credits, Pro ≈ 20, Flash ≈ a third.
DEFAULT_FACTORS: dict[str, dict[str, Fraction]] = {
    Dimension.RESOLUTION: {
        str(Resolution.P540): Fraction(1, 2),
        str(Resolution.P720): Fraction(3, 4),
        str(Resolution.P1080): Fraction(1),
        str(Resolution.P1440): Fraction(3, 2),
    },
    Dimension.QUALITY: {
        Quality.FLASH: Fraction(1, 3),
        Quality.STANDARD: Fraction(1),
        Quality.PRO: Fraction(2),
    },
    Dimension.MODE: {mode.value: Fraction(1) for mode in Mode},
}


class PricingError(UserError):
    """The request cannot be priced; the message is meant for the user."""


@dataclass(frozen=True)
class Estimate:
    credits: int
    render_resolution: int
    upscaled_to_4k: bool
    lines: tuple[tuple[str, str], ...]


def active_book() -> PriceBook:
    book = PriceBook.objects.filter(is_active=True).prefetch_related("factors").first()
    if book is None:
        raise PricingError(
            "Renders cannot be priced right now: no price book is active. Nothing was "
            "charged; an administrator must activate one."
        )
    return book


def _factor(book: PriceBook, dimension: str, key: str, label: str) -> Fraction:
    for factor in book.factors.all():
        if factor.dimension == dimension and factor.key == key:
            return Fraction(factor.numerator, factor.denominator)
    raise PricingError(f"{label} is not offered.")


def estimate(
    *,
    duration_s: float,
    resolution: int,
    quality: str,
    mode: str = Mode.TEXT,
    book: PriceBook | None = None,
) -> Estimate:
    """Credits for one clip. Raises :class:`PricingError` for what cannot be priced."""
    if duration_s <= 0:
        raise PricingError("Duration must be more than 0 seconds.")
    book = book or active_book()
    upscale = resolution == Resolution.P2160
    render_resolution = Resolution.P1080 if upscale else resolution
    length = Fraction(duration_s).limit_denominator(1000) / book.base_seconds
    res = _factor(book, Dimension.RESOLUTION, str(render_resolution), f"{resolution}p")
    qual = _factor(book, Dimension.QUALITY, str(quality), f"Quality {str(quality)!r}")
    mod = _factor(book, Dimension.MODE, str(mode), f"Mode {str(mode)!r}")
    render = math.ceil(book.base_credits * length * res * qual * mod)
    surcharge = math.ceil(book.upscale_4k_credits * length) if upscale else 0
    lines = [
        ("Render", f"{render_resolution}p · {Quality(quality).label} · {duration_s:g} s"),
        ("Render credits", str(render)),
    ]
    if upscale:
        lines.append(("4K upscale", str(surcharge)))
    return Estimate(
        credits=max(1, render + surcharge),
        render_resolution=render_resolution,
        upscaled_to_4k=upscale,
        lines=tuple(lines),
    )


def character_training_estimate(*, book: PriceBook | None = None) -> Estimate:
    """Credits for training one character adapter: the price book's flat price."""
    book = book or active_book()
    credits = max(1, book.character_training_credits)
    return Estimate(
        credits=credits,
        render_resolution=0,
        upscaled_to_4k=False,
        lines=(("Character training", str(credits)),),
    )


@transaction.atomic
def price_book_create_default(*, name: str = "Default pricing", activate: bool = True) -> PriceBook:
    """A price book with the seeds' defaults; admins edit its factors afterwards."""
    if activate:
        PriceBook.objects.filter(is_active=True).update(is_active=False)
    book = PriceBook.objects.create(name=name, is_active=activate)
    PricingFactor.objects.bulk_create(
        PricingFactor(
            book=book,
            dimension=dimension,
            key=str(key),
            numerator=value.numerator,
            denominator=value.denominator,
        )
        for dimension, values in DEFAULT_FACTORS.items()
        for key, value in values.items()
    )
    return book
