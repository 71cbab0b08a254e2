from __future__ import annotations

import pytest
import torch

from generation.engine.sampling import SamplingCancelled, sample_euler, sample_heun
from generation.engine.schedules import shifted_timesteps, uniform_timesteps


def test_euler_with_constant_velocity_lands_exactly():
    gen = torch.Generator().manual_seed(0)
    # Small integers and power-of-two steps: every partial sum is representable, so no rounding.
    x1 = torch.randint(-64, 64, (2, 3, 4, 5), generator=gen).float()
    v = torch.randint(-64, 64, (2, 3, 4, 5), generator=gen).float()
    out = sample_euler(lambda x, t: v, x1, uniform_timesteps(8))
    assert torch.equal(out, x1 - v)
    # Any schedule telescopes to the full span, up to float rounding.
    x1, v = torch.randn(2, 3, 4, 5, generator=gen), torch.randn(2, 3, 4, 5, generator=gen)
    out = sample_euler(lambda x, t: v, x1, shifted_timesteps(7, 3.0))
    torch.testing.assert_close(out, x1 - v, rtol=0, atol=1e-5)


def test_heun_is_exact_on_velocity_linear_in_time_and_euler_is_not():
    a, b = torch.randn(4), torch.randn(4)

    def field(x, t):  # v(t) = a + b t, so x(0) = x(1) - a - b/2
        return a + b * t.view(-1, 1)

    x1 = torch.randn(3, 4)
    expected = x1 - a - b / 2
    ts = shifted_timesteps(5, 2.5)
    torch.testing.assert_close(sample_heun(field, x1, ts), expected, rtol=0, atol=1e-6)
    assert (sample_euler(field, x1, ts) - expected).abs().max() > 1e-2


def test_heun_is_second_order_on_a_field_that_depends_on_x():
    def field(x, t):  # dx/dt = x  ->  x(0) = x(1) / e
        return x

    x1 = torch.ones(1, dtype=torch.float64)
    exact = x1 / torch.e
    err_euler = (sample_euler(field, x1, uniform_timesteps(16)) - exact).abs().item()
    err_heun_8 = (sample_heun(field, x1, uniform_timesteps(8)) - exact).abs().item()
    err_heun_16 = (sample_heun(field, x1, uniform_timesteps(16)) - exact).abs().item()
    assert err_heun_16 < err_euler / 10
    assert 3.0 < err_heun_8 / err_heun_16 < 5.0  # error / 4 when the step halves


def test_velocity_fn_gets_a_time_per_batch_item():
    seen = []

    def field(x, t):
        seen.append(t.clone())
        return torch.zeros_like(x)

    sample_euler(field, torch.zeros(3, 2), uniform_timesteps(4))
    assert [s.shape for s in seen] == [torch.Size([3])] * 4
    assert [s[0].item() for s in seen] == [1.0, 0.75, 0.5, 0.25]


@pytest.mark.parametrize("sampler", [sample_euler, sample_heun])
def test_callback_sees_every_step_in_order(sampler):
    calls = []
    sampler(
        lambda x, t: torch.ones_like(x),
        torch.zeros(1),
        uniform_timesteps(4),
        callback=lambda step, total, x, t: calls.append((step, total, t.item())),
    )
    assert calls == [(1, 4, 0.75), (2, 4, 0.5), (3, 4, 0.25), (4, 4, 0.0)]


@pytest.mark.parametrize("sampler", [sample_euler, sample_heun])
def test_cancellation_from_the_callback_stops_at_once(sampler):
    evals = []

    def field(x, t):
        evals.append(t[0].item())
        return torch.ones_like(x)

    def cancel_at_two(step, total, x, t):
        if step == 2:
            raise SamplingCancelled

    with pytest.raises(SamplingCancelled):
        sampler(field, torch.zeros(1), uniform_timesteps(10), callback=cancel_at_two)
    per_step = 2 if sampler is sample_heun else 1
    assert len(evals) == 2 * per_step
