"""Newtonian bodies on the ground plane, integrated at sub-frame rate with exact contact times.

Between contacts gravity and friction are constant accelerations, so each sub-step integrates
them exactly (x += v dt + a dt² / 2); a bounce is found by solving for the contact time inside the
step, so a dropped ball follows h0 − g t² / 2 to float precision and leaves the ground with
−e × its impact speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

GRAVITY = 9.81


@dataclass(frozen=True)
class Ball:
    """A sphere that falls, bounces (restitution) and rolls (rolling resistance)."""

    radius: float
    position: tuple[float, float, float]
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)
    restitution: float = 0.7
    rolling_resistance: float = 0.05


@dataclass(frozen=True)
class SlidingBox:
    """A box resting on the ground that slides with Coulomb friction until it stops."""

    half_extents: tuple[float, float, float]
    position: tuple[float, float, float]
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)
    friction: float = 0.4
    yaw: float = 0.0


@dataclass(frozen=True)
class Trajectory:
    """States sampled at requested times.

    Args:
        position: (N, 3) centres; velocity: (N, 3); spin: (N,) rolled angle (rad) about the axis
        perpendicular to the horizontal motion (balls), 0 for boxes; heading: (N,) direction of
        horizontal travel (rad).
    """

    position: np.ndarray
    velocity: np.ndarray
    spin: np.ndarray
    heading: np.ndarray


def _step_ball(
    p: np.ndarray, v: np.ndarray, dt: float, ball: Ball
) -> tuple[np.ndarray, np.ndarray, float]:
    """Advance one sub-step; returns position, velocity and horizontal distance rolled."""
    r = ball.radius
    remaining = dt
    rolled = 0.0
    for _ in range(8):  # a few contacts at most per sub-step
        if remaining <= 0:
            break
        on_ground = p[1] <= r + 1e-9 and abs(v[1]) < 1e-6
        if on_ground:
            # Rolling: horizontal speed decays at a constant rate (rolling resistance · g).
            speed = math.hypot(v[0], v[2])
            if speed > 0:
                decel = ball.rolling_resistance * GRAVITY
                t_stop = speed / decel if decel > 0 else math.inf
                tt = min(remaining, t_stop)
                new_speed = speed - decel * tt
                dist = (speed + new_speed) / 2 * tt
                dirx, dirz = v[0] / speed, v[2] / speed
                p = p + np.array([dirx * dist, 0.0, dirz * dist])
                v = np.array([dirx * new_speed, 0.0, dirz * new_speed])
                rolled += dist
            p[1] = r
            break
        # Ballistic: find the contact time with y = r inside this sub-step.
        a = -GRAVITY
        y0 = p[1] - r
        disc = v[1] ** 2 - 2 * a * y0
        t_hit = (-v[1] - math.sqrt(max(disc, 0.0))) / a if disc >= 0 else math.inf
        if t_hit < -1e-12:
            t_hit = math.inf
        hit = t_hit <= remaining
        tt = min(remaining, t_hit)
        p = p + v * tt + np.array([0.0, 0.5 * a * tt * tt, 0.0])
        v = v + np.array([0.0, a * tt, 0.0])
        remaining -= tt
        if hit:
            p[1] = r
            v[1] = -ball.restitution * v[1]
            if abs(v[1]) < 0.05:  # too small a hop to resolve: the ball settles and rolls
                v[1] = 0.0
    return p, v, rolled


def simulate_ball(ball: Ball, times: np.ndarray, substeps_per_s: float = 480.0) -> Trajectory:
    """States of `ball` at sorted `times` (s), in sub-steps of at most 1 / substeps_per_s."""
    p = np.array(ball.position, dtype=np.float64)
    v = np.array(ball.velocity, dtype=np.float64)
    t, rolled = 0.0, 0.0
    heading = math.atan2(v[0], v[2]) if math.hypot(v[0], v[2]) > 0 else 0.0
    out_p, out_v, out_s, out_h = [], [], [], []
    h = 1.0 / substeps_per_s
    for target in np.asarray(times, dtype=np.float64):
        while t < target - 1e-12:
            dt = min(h, target - t)
            p, v, d = _step_ball(p, v, dt, ball)
            rolled += d
            t += dt
        out_p.append(p.copy())
        out_v.append(v.copy())
        out_s.append(rolled / ball.radius)
        out_h.append(heading)
    return Trajectory(np.array(out_p), np.array(out_v), np.array(out_s), np.array(out_h))


def simulate_box(box: SlidingBox, times: np.ndarray, substeps_per_s: float = 480.0) -> Trajectory:
    """A sliding box: constant friction deceleration μ g along its velocity until it stops."""
    p = np.array(box.position, dtype=np.float64)
    v = np.array(box.velocity, dtype=np.float64)
    t = 0.0
    h = 1.0 / substeps_per_s
    out_p, out_v = [], []
    for target in np.asarray(times, dtype=np.float64):
        while t < target - 1e-12:
            dt = min(h, target - t)
            speed = math.hypot(v[0], v[2])
            if speed > 0:
                decel = box.friction * GRAVITY
                tt = min(dt, speed / decel)
                new_speed = speed - decel * tt
                dist = (speed + new_speed) / 2 * tt
                p = p + np.array([v[0] / speed * dist, 0.0, v[2] / speed * dist])
                v = v * (new_speed / speed)
            t += dt
        out_p.append(p.copy())
        out_v.append(v.copy())
    n = len(out_p)
    return Trajectory(np.array(out_p), np.array(out_v), np.zeros(n), np.full(n, box.yaw))
