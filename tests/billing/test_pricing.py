from __future__ import annotations

import pytest

from billing import pricing
from billing.models import PricingFactor

pytestmark = pytest.mark.usefixtures("seeded")


@pytest.mark.parametrize(
    ("duration", "resolution", "quality", "credits"),
    [
        (5, 1080, "standard", 10),  # the seeds' reference clip
        (5, 1080, "pro", 20),  # Pro costs twice Standard
        (5, 1080, "flash", 4),  # a third of Standard, rounded up
        (10, 1080, "standard", 20),
        (5, 720, "standard", 8),
        (5, 540, "flash", 2),
        (5, 1440, "pro", 30),
    ],
)
def test_default_prices_follow_the_seeds(
    duration: int, resolution: int, quality: str, credits: int
) -> None:
    assert (
        pricing.estimate(duration_s=duration, resolution=resolution, quality=quality).credits
        == credits
    )


def test_flash_is_exactly_a_third_of_standard_rounded_up() -> None:
    for duration in range(1, 31):
        for resolution in (540, 720, 1080, 1440):
            standard = pricing.estimate(
                duration_s=duration, resolution=resolution, quality="standard"
            )
            flash = pricing.estimate(duration_s=duration, resolution=resolution, quality="flash")
            assert flash.credits == -(-standard.credits // 3)  # ceil(standard / 3)


def test_4k_is_a_1080p_render_plus_an_upscale_surcharge() -> None:
    est = pricing.estimate(duration_s=5, resolution=2160, quality="standard")
    assert est.upscaled_to_4k and est.render_resolution == 1080
    assert est.credits == 10 + 4
    assert ("4K upscale", "4") in est.lines


def test_an_admin_edit_to_a_factor_changes_the_estimate() -> None:
    factor = PricingFactor.objects.get(book__is_active=True, dimension="mode", key="v2v")
    factor.numerator, factor.denominator = 3, 2
    factor.save()
    assert (
        pricing.estimate(duration_s=5, resolution=1080, quality="standard", mode="v2v").credits
        == 15
    )
    assert (
        pricing.estimate(duration_s=5, resolution=1080, quality="standard", mode="t2v").credits
        == 10
    )


def test_unpriced_requests_get_clear_errors() -> None:
    with pytest.raises(pricing.PricingError, match="900p is not offered"):
        pricing.estimate(duration_s=5, resolution=900, quality="standard")
    with pytest.raises(pricing.PricingError, match="more than 0 seconds"):
        pricing.estimate(duration_s=0, resolution=1080, quality="standard")


def test_without_an_active_price_book_estimates_say_so(db) -> None:
    from billing.models import PriceBook

    PriceBook.objects.update(is_active=False)
    with pytest.raises(pricing.PricingError, match="no price book is active"):
        pricing.estimate(duration_s=5, resolution=1080, quality="standard")
