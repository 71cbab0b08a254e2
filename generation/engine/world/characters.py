"""Simple articulated figures: head, torso, arms and legs as primitives, posed per time.

A character's identity is an attribute set (skin, shirt, trousers colours, hat or hair, body
proportions); its action (walk, turn, wave, stand) drives the joint angles.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from generation.engine.world.primitives import Primitive, rot_x, rot_y, rot_z

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.75, 0.08, 0.07),
    "blue": (0.08, 0.20, 0.70),
    "green": (0.10, 0.55, 0.15),
    "yellow": (0.90, 0.75, 0.08),
    "orange": (0.90, 0.40, 0.05),
    "purple": (0.45, 0.12, 0.60),
    "white": (0.88, 0.88, 0.86),
    "black": (0.06, 0.06, 0.07),
    "grey": (0.40, 0.40, 0.42),
    "pink": (0.90, 0.45, 0.60),
    "teal": (0.05, 0.50, 0.50),
    "brown": (0.40, 0.22, 0.10),
}
SKIN_TONES: dict[str, tuple[float, float, float]] = {
    "pale": (0.92, 0.76, 0.65),
    "tan": (0.78, 0.57, 0.42),
    "brown": (0.55, 0.36, 0.24),
    "dark": (0.32, 0.20, 0.13),
}
HEADWEAR = ("hat", "hair", "bald")
BUILDS = {"slim": 0.85, "average": 1.0, "broad": 1.2}
ACTIONS = ("stand", "walk", "turn", "wave")


@dataclass(frozen=True)
class CharacterIdentity:
    """Who a figure is: what the character lock anchors across shots."""

    skin: str = "tan"
    shirt: str = "red"
    trousers: str = "blue"
    headwear: str = "hair"
    headwear_colour: str = "brown"
    height_m: float = 1.75
    build: str = "average"

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def description(self) -> str:
        head = {
            "hat": f"a {self.headwear_colour} hat",
            "hair": f"{self.headwear_colour} hair",
            "bald": "a bald head",
        }[self.headwear]
        return (
            f"{self.build} figure in a {self.shirt} shirt and {self.trousers} trousers with {head}"
        )


def random_identity(generator: torch.Generator) -> CharacterIdentity:
    def pick(options: list[str] | tuple[str, ...]) -> str:
        return options[int(torch.randint(0, len(options), (), generator=generator))]

    colours = list(COLOURS)
    shirt = pick(colours)
    trousers = pick([c for c in colours if c != shirt])
    return CharacterIdentity(
        skin=pick(list(SKIN_TONES)),
        shirt=shirt,
        trousers=trousers,
        headwear=pick(HEADWEAR),
        headwear_colour=pick(["black", "brown", "yellow", "red", "white", "grey"]),
        height_m=round(1.55 + 0.4 * float(torch.rand((), generator=generator)), 2),
        build=pick(list(BUILDS)),
    )


@dataclass(frozen=True)
class Character:
    """A figure placed in the scene. Heading is the facing direction (rad, yaw about +y)."""

    identity: CharacterIdentity
    position: tuple[float, float] = (0.0, 0.0)  # (x, z) on the ground
    heading: float = 0.0
    action: str = "stand"
    walk_speed: float = 1.2  # m/s
    turn_rate: float = 1.2  # rad/s


def pose_character(character: Character, times: np.ndarray) -> list[Primitive]:
    """The figure's primitives at each time (N,)."""
    ident = character.identity
    t = np.asarray(times, dtype=np.float64)
    n = t.shape[0]
    h = ident.height_m
    w = BUILDS[ident.build]
    leg_len, torso_len, arm_len = 0.47 * h, 0.30 * h, 0.38 * h
    head_r = 0.065 * h
    heading = np.full(n, character.heading)
    root = np.zeros((n, 3))
    root[:, 0], root[:, 2] = character.position
    swing = np.zeros(n)
    if character.action == "walk":
        stride_hz = character.walk_speed / (0.75 * leg_len * 2)
        swing = 0.45 * np.sin(2 * math.pi * stride_hz * t)
        root[:, 0] += character.walk_speed * t * math.sin(character.heading)
        root[:, 2] += character.walk_speed * t * math.cos(character.heading)
        root[:, 1] += 0.02 * np.abs(np.sin(2 * math.pi * stride_hz * t))
    elif character.action == "turn":
        heading = character.heading + character.turn_rate * t
        swing = 0.15 * np.sin(2 * math.pi * 1.5 * t)
    body = rot_y(heading)  # (N, 3, 3) world-from-body

    def place(local: np.ndarray) -> np.ndarray:
        return root + np.einsum("nij,nj->ni", body, local)

    prims: list[Primitive] = []
    skin = SKIN_TONES[ident.skin]
    shirt, trousers = COLOURS[ident.shirt], COLOURS[ident.trousers]
    hip_y = leg_len
    for side, phase in ((-1, 1.0), (1, -1.0)):
        # Legs hinge at the hip; the centre sits half a leg below it along the swung axis.
        rot = rot_x(phase * swing)
        hip = np.tile([side * 0.09 * h * w, hip_y, 0.0], (n, 1))
        centre = hip + np.einsum("nij,j->ni", rot, [0.0, -leg_len / 2, 0.0])
        prims.append(
            Primitive(
                "box", place(centre), body @ rot, (0.055 * h * w, leg_len / 2, 0.06 * h), trousers
            )
        )
    torso_c = np.tile([0.0, hip_y + torso_len / 2, 0.0], (n, 1))
    prims.append(
        Primitive("box", place(torso_c), body, (0.14 * h * w, torso_len / 2, 0.08 * h * w), shirt)
    )
    shoulder_y = hip_y + torso_len * 0.95
    for side, phase in ((-1, -1.0), (1, 1.0)):
        rot = rot_x(phase * swing * 0.8)
        if character.action == "wave" and side == 1:
            # Raise the arm sideways and wave it about the shoulder at 2 Hz.
            rot = rot_z(np.full(n, 2.6) + 0.35 * np.sin(2 * math.pi * 2.0 * t))
        shoulder = np.tile([side * 0.18 * h * w, shoulder_y, 0.0], (n, 1))
        centre = shoulder + np.einsum("nij,j->ni", rot, [0.0, -arm_len / 2, 0.0])
        prims.append(
            Primitive("box", place(centre), body @ rot, (0.04 * h, arm_len / 2, 0.045 * h), shirt)
        )
    head_c = np.tile([0.0, shoulder_y + 0.04 * h + head_r, 0.0], (n, 1))
    prims.append(Primitive("sphere", place(head_c), body, (head_r,) * 3, skin))
    hcol = COLOURS[ident.headwear_colour]
    if ident.headwear == "hair":
        hair_c = head_c + np.array([0.0, 0.25 * head_r, -0.15 * head_r])
        prims.append(Primitive("sphere", place(hair_c), body, (head_r * 0.97,) * 3, hcol))
    elif ident.headwear == "hat":
        crown = head_c + np.array([0.0, 0.8 * head_r, 0.0])
        prims.append(
            Primitive(
                "cylinder", place(crown), body, (head_r * 0.85, head_r * 0.45, head_r * 0.85), hcol
            )
        )
        brim = head_c + np.array([0.0, 0.55 * head_r, 0.0])
        prims.append(
            Primitive(
                "cylinder", place(brim), body, (head_r * 1.6, 0.03 * head_r, head_r * 1.6), hcol
            )
        )
    return prims
