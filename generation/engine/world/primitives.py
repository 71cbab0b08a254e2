"""Primitives over time: what the scene graph hands to the ray caster.

Every primitive has a world-from-local rotation and centre per sample time, a fixed size and a
colour. Spheres use the rotation only for their stripe pattern (so a rolling ball visibly rolls).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class Primitive:
    """One sphere, box or cylinder over N sample times.

    Args:
        kind: "sphere" (size = (r, r, r)), "box" (size = half extents) or "cylinder"
            (size = (radius, half height, radius), axis = local y).
        centre: (N, 3); rotation: (N, 3, 3) world-from-local.
        colour: linear RGB albedo. pattern: 0 plain, 1 stripes (spheres).
        label: what captions call it ("ball", "crate", ...); empty for parts of a figure.
    """

    kind: str
    centre: np.ndarray
    rotation: np.ndarray
    size: tuple[float, float, float]
    colour: tuple[float, float, float]
    pattern: int = 0
    label: str = ""


@dataclass
class PrimitiveBatch:
    """Primitives of one kind stacked for the ray caster (F sample times, K primitives)."""

    centre: torch.Tensor  # (F, K, 3)
    rotation: torch.Tensor  # (F, K, 3, 3)
    size: torch.Tensor  # (K, 3)
    colour: torch.Tensor  # (K, 3)
    pattern: torch.Tensor  # (K,)

    @property
    def count(self) -> int:
        return self.size.shape[0]

    def frames(self, start: int, stop: int) -> PrimitiveBatch:
        return PrimitiveBatch(
            self.centre[start:stop], self.rotation[start:stop], self.size, self.colour, self.pattern
        )


@dataclass
class PrimitiveSet:
    spheres: PrimitiveBatch
    boxes: PrimitiveBatch
    cylinders: PrimitiveBatch
    labels: list[str] = field(default_factory=list)

    def frames(self, start: int, stop: int) -> PrimitiveSet:
        return PrimitiveSet(
            self.spheres.frames(start, stop),
            self.boxes.frames(start, stop),
            self.cylinders.frames(start, stop),
            self.labels,
        )


def stack_primitives(
    prims: list[Primitive], n_times: int, *, device: torch.device, dtype: torch.dtype
) -> PrimitiveSet:
    """Group primitives by kind into tensors (kinds with none get K = 0)."""

    def batch(kind: str) -> PrimitiveBatch:
        group = [p for p in prims if p.kind == kind]
        if not group:
            return PrimitiveBatch(
                torch.zeros(n_times, 0, 3, device=device, dtype=dtype),
                torch.zeros(n_times, 0, 3, 3, device=device, dtype=dtype),
                torch.zeros(0, 3, device=device, dtype=dtype),
                torch.zeros(0, 3, device=device, dtype=dtype),
                torch.zeros(0, device=device, dtype=torch.int64),
            )
        return PrimitiveBatch(
            torch.as_tensor(np.stack([p.centre for p in group], 1), device=device, dtype=dtype),
            torch.as_tensor(np.stack([p.rotation for p in group], 1), device=device, dtype=dtype),
            torch.tensor([p.size for p in group], device=device, dtype=dtype),
            torch.tensor([p.colour for p in group], device=device, dtype=dtype),
            torch.tensor([p.pattern for p in group], device=device, dtype=torch.int64),
        )

    return PrimitiveSet(
        batch("sphere"), batch("box"), batch("cylinder"), [p.label for p in prims if p.label]
    )


def rot_y(angle: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations about the world y axis."""
    c, s = np.cos(angle), np.sin(angle)
    z, o = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(*np.shape(angle), 3, 3)


def rot_x(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    z, o = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(*np.shape(angle), 3, 3)


def rot_z(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    z, o = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(*np.shape(angle), 3, 3)


def static(
    kind: str,
    centre: tuple[float, float, float],
    n: int,
    size: tuple[float, float, float],
    colour: tuple[float, float, float],
    *,
    yaw: float = 0.0,
    label: str = "",
) -> Primitive:
    """A primitive that does not move over n sample times."""
    return Primitive(
        kind,
        np.tile(np.asarray(centre, dtype=np.float64), (n, 1)),
        np.tile(rot_y(np.array(yaw)), (n, 1, 1)),
        size,
        colour,
        label=label,
    )
