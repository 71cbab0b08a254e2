from __future__ import annotations

import math

import pytest
import torch

from generation.engine import schedules


def test_uniform_runs_from_start_to_zero_in_equal_steps():
    ts = schedules.uniform_timesteps(8)
    assert ts[0] == 1.0 and ts[-1] == 0.0 and len(ts) == 9
    assert torch.equal(ts[:-1] - ts[1:], torch.full((8,), 0.125, dtype=torch.float64))


def test_shift_fixes_endpoints_and_moves_the_middle_towards_noise():
    ts = schedules.uniform_timesteps(10)
    shifted = schedules.shift_timesteps(ts, 3.0)
    assert shifted[0] == 1.0 and shifted[-1] == 0.0
    assert torch.all(shifted[1:-1] > ts[1:-1])
    assert torch.all(shifted[:-1] > shifted[1:])
    assert torch.equal(schedules.shift_timesteps(ts, 1.0), ts)
    # s t / (1 + (s - 1) t) at t = 0.5, s = 3: 1.5 / 2.
    assert shifted[5].item() == pytest.approx(0.75)


def test_resolution_shift_grows_with_tokens():
    assert schedules.resolution_shift(256) == pytest.approx(math.exp(0.5))
    assert schedules.resolution_shift(4096) == pytest.approx(math.exp(1.15))
    assert schedules.resolution_shift(1024) < schedules.resolution_shift(2048)


def test_truncated_schedule_starts_exactly_at_the_strength():
    ts = schedules.shifted_timesteps(20, 2.0, start=0.4)
    assert ts[0].item() == 0.4 and ts[-1] == 0.0
    assert torch.all(ts[:-1] > ts[1:])
    assert len(ts) - 1 < 20
    assert torch.equal(
        schedules.shifted_timesteps(20, 2.0), schedules.shifted_timesteps(20, 2.0, start=1.0)
    )


def test_logit_normal_is_seeded_and_inside_the_open_interval():
    a = schedules.logit_normal_t(1000, generator=torch.Generator().manual_seed(1))
    b = schedules.logit_normal_t(1000, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert a.min() > 0 and a.max() < 1
    assert abs(a.median().item() - 0.5) < 0.05


def test_noising_path_and_velocity_are_consistent():
    x0, noise = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    t = torch.tensor([0.25, 0.75])
    xt = schedules.noise_to(x0, noise, t)
    # Moving along the constant velocity from t back to 0 recovers the data.
    v = schedules.velocity_target(x0, noise)
    torch.testing.assert_close(xt - t.view(2, 1, 1) * v, x0)
    assert torch.equal(schedules.noise_to(x0, noise, 1.0), noise)
