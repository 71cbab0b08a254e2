from __future__ import annotations

import math

import numpy as np
import pytest

from generation.engine.world.physics import GRAVITY, Ball, SlidingBox, simulate_ball, simulate_box


def test_dropped_ball_follows_free_fall_until_contact():
    h0, r = 3.0, 0.2
    t_contact = math.sqrt(2 * (h0 - r) / GRAVITY)
    times = np.linspace(0, t_contact * 0.999, 37)
    traj = simulate_ball(Ball(r, (0.0, h0, 0.0), restitution=0.6), times, substeps_per_s=240)
    assert np.allclose(traj.position[:, 1], h0 - GRAVITY * times**2 / 2, atol=1e-9)


@pytest.mark.parametrize("restitution", [0.5, 0.8])
def test_each_bounce_keeps_restitution_squared_of_the_height(restitution):
    h0, r = 2.0, 0.25
    times = np.arange(0, 3.0, 1 / 2000)
    traj = simulate_ball(Ball(r, (0.0, h0, 0.0), restitution=restitution), times)
    y = traj.position[:, 1] - r
    # Apexes are local maxima of the height after the first contact.
    inner = (y[1:-1] > y[:-2]) & (y[1:-1] >= y[2:]) & (y[1:-1] > 1e-3)
    apexes = y[1:-1][inner]
    assert len(apexes) >= 2
    assert apexes[0] == pytest.approx(h0 - r, rel=1e-6) or apexes[0] == pytest.approx(
        (h0 - r) * restitution**2, rel=1e-3
    )
    ratios = apexes[1:] / apexes[:-1]
    assert np.allclose(ratios, restitution**2, rtol=2e-3)
    assert y.min() >= -1e-9  # never sinks into the ground


def test_sliding_box_stops_after_v_squared_over_two_mu_g():
    v0, mu = 3.0, 0.4
    box = SlidingBox((0.3, 0.3, 0.3), (0.0, 0.3, 0.0), (v0, 0.0, 0.0), friction=mu)
    traj = simulate_box(box, np.array([0.2, 5.0]))
    assert traj.position[1, 0] == pytest.approx(v0**2 / (2 * mu * GRAVITY), rel=1e-9)
    assert traj.position[0, 0] == pytest.approx(v0 * 0.2 - mu * GRAVITY * 0.2**2 / 2, rel=1e-9)
    assert np.allclose(traj.velocity[1], 0.0)


def test_rolling_ball_turns_by_distance_over_radius():
    r = 0.3
    traj = simulate_ball(
        Ball(r, (0.0, r, 0.0), (2.0, 0.0, 0.0), rolling_resistance=0.1), np.array([0.5])
    )
    assert traj.spin[0] == pytest.approx(traj.position[0, 0] / r, rel=1e-9)
    assert traj.position[0, 1] == pytest.approx(r)
