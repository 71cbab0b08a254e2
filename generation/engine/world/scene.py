"""The scene graph: ground, lighting, props, physical bodies and characters, sampled per seed."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from generation.engine.camera import BasePose
from generation.engine.world.characters import (
    COLOURS,
    Character,
    CharacterIdentity,
    pose_character,
    random_identity,
)
from generation.engine.world.lighting import MOODS, Lighting, lighting_for_mood
from generation.engine.world.physics import Ball, SlidingBox, simulate_ball, simulate_box
from generation.engine.world.primitives import Primitive, rot_x, rot_y, static
from generation.engine.world.textures import GROUND_KINDS, GROUND_PALETTES, GroundMaterial

SUBJECT_KINDS = ("character", "bouncing ball", "rolling ball", "sliding box", "still object")


@dataclass(frozen=True)
class Prop:
    """A static primitive: background dressing, or the still subject of a shot."""

    kind: str  # sphere | box | cylinder | tree
    position: tuple[float, float, float]
    size: tuple[float, float, float]
    colour: str
    label: str
    yaw: float = 0.0


@dataclass(frozen=True)
class PhysicalBall:
    ball: Ball
    colour: str
    label: str = "ball"


@dataclass(frozen=True)
class PhysicalBox:
    box: SlidingBox
    colour: str
    label: str = "box"


@dataclass(frozen=True)
class Scene:
    ground: GroundMaterial
    lighting: Lighting
    props: tuple[Prop, ...] = ()
    balls: tuple[PhysicalBall, ...] = ()
    boxes: tuple[PhysicalBox, ...] = ()
    characters: tuple[Character, ...] = ()
    subject_kind: str = "still object"
    subject_phrase: str = "a red sphere"
    camera: BasePose = field(default_factory=BasePose)

    def labels(self) -> dict:
        """Structured labels for training and captions (JSON-safe)."""
        return {
            "ground": self.ground.kind,
            "mood": self.lighting.mood,
            "subject": self.subject_kind,
            "subject_phrase": self.subject_phrase,
            "objects": [f"{p.colour} {p.label}" for p in self.props]
            + [f"{b.colour} {b.label}" for b in self.balls]
            + [f"{b.colour} {b.label}" for b in self.boxes],
            "characters": [c.identity.to_dict() | {"action": c.action} for c in self.characters],
        }

    def subject_only(self) -> Scene:
        """The scene with nothing but its subject: the figure, the ball, the box or the still
        object (the subject is always the first of its kind, drawn before the dressing)."""
        keep: dict[str, tuple] = {
            "character": {"characters": self.characters[:1]},
            "bouncing ball": {"balls": self.balls[:1]},
            "rolling ball": {"balls": self.balls[:1]},
            "sliding box": {"boxes": self.boxes[:1]},
            "still object": {"props": self.props[:1]},
        }[self.subject_kind]
        empty: dict[str, tuple] = {"props": (), "balls": (), "boxes": (), "characters": ()}
        return dataclasses.replace(self, **(empty | keep))


def scene_primitives(scene: Scene, times: np.ndarray) -> list[Primitive]:
    """Every primitive of the scene posed at each of the N `times` (s)."""
    t = np.asarray(times, dtype=np.float64)
    n = t.shape[0]
    prims: list[Primitive] = []
    for p in scene.props:
        col = COLOURS[p.colour]
        if p.kind == "tree":
            trunk_h = p.size[1] * 0.45
            prims.append(
                static(
                    "cylinder",
                    (p.position[0], trunk_h / 2, p.position[2]),
                    n,
                    (p.size[0] * 0.15, trunk_h / 2, p.size[0] * 0.15),
                    COLOURS["brown"],
                )
            )
            prims.append(
                static(
                    "sphere",
                    (p.position[0], trunk_h + p.size[0] * 0.8, p.position[2]),
                    n,
                    (p.size[0],) * 3,
                    col,
                    label=p.label,
                )
            )
        else:
            prims.append(static(p.kind, p.position, n, p.size, col, yaw=p.yaw, label=p.label))
    for pb in scene.balls:
        traj = simulate_ball(pb.ball, t)
        axis_yaw = traj.heading  # roll about the horizontal axis perpendicular to travel
        rot = rot_y(axis_yaw) @ rot_x(traj.spin)
        prims.append(
            Primitive(
                "sphere",
                traj.position,
                rot,
                (pb.ball.radius,) * 3,
                COLOURS[pb.colour],
                pattern=1,
                label=pb.label,
            )
        )
    for bx in scene.boxes:
        traj = simulate_box(bx.box, t)
        prims.append(
            Primitive(
                "box",
                traj.position,
                rot_y(traj.heading),
                bx.box.half_extents,
                COLOURS[bx.colour],
                label=bx.label,
            )
        )
    for ch in scene.characters:
        prims.extend(pose_character(ch, t))
    return prims


def _rand(g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def _pick(g: torch.Generator, options: tuple | list):
    return options[int(torch.randint(0, len(options), (), generator=g))]


def sample_scene(
    generator: torch.Generator,
    *,
    subject_kind: str | None = None,
    mood: str | None = None,
    focal_mm: float = 35.0,
) -> Scene:
    """A random scene: ground, light, a subject, background props and the camera's base pose.

    The subject stands near the origin; the camera looks at it from 3.5–8 m at eye-ish height
    (further back for long lenses, `focal_mm`).
    """
    g = generator
    ground_kind = _pick(g, GROUND_KINDS)
    jitter = [_rand(g, 0.85, 1.15) for _ in range(2)]
    ca, cb = GROUND_PALETTES[ground_kind]
    ground = GroundMaterial(
        ground_kind,
        tuple(min(1.0, c * jitter[0]) for c in ca),
        tuple(min(1.0, c * jitter[1]) for c in cb),
        scale=_rand(g, 0.7, 1.5),
        seed=int(torch.randint(0, 2**16, (), generator=g)),
    )
    lighting = lighting_for_mood(mood or _pick(g, MOODS), g)
    subject_kind = subject_kind or _pick(g, SUBJECT_KINDS)
    colours = list(COLOURS)
    props: list[Prop] = []
    balls: list[PhysicalBall] = []
    boxes: list[PhysicalBox] = []
    characters: list[Character] = []
    look_y = 0.6
    if subject_kind == "character":
        ident: CharacterIdentity = random_identity(g)
        action = _pick(g, ("stand", "walk", "turn", "wave"))
        heading = _rand(g, -math.pi, math.pi)
        characters.append(Character(ident, (0.0, 0.0), heading, action, _rand(g, 0.8, 1.4)))
        phrase = f"the figure in the {ident.shirt} shirt"
        look_y = ident.height_m * 0.6
    elif subject_kind == "bouncing ball":
        colour = _pick(g, colours)
        r = _rand(g, 0.2, 0.4)
        balls.append(
            PhysicalBall(
                Ball(
                    r,
                    (0.0, _rand(g, 1.5, 3.0), 0.0),
                    (_rand(g, -0.3, 0.3), 0.0, _rand(g, -0.3, 0.3)),
                    restitution=_rand(g, 0.5, 0.85),
                ),
                colour,
            )
        )
        phrase = f"a bouncing {colour} ball"
        look_y = 0.9
    elif subject_kind == "rolling ball":
        colour = _pick(g, colours)
        r = _rand(g, 0.25, 0.45)
        ang = _rand(g, -math.pi, math.pi)
        sp = _rand(g, 1.0, 2.5)
        balls.append(
            PhysicalBall(
                Ball(
                    r,
                    (-math.sin(ang) * 1.0, r, -math.cos(ang) * 1.0),
                    (math.sin(ang) * sp, 0.0, math.cos(ang) * sp),
                ),
                colour,
            )
        )
        phrase = f"a rolling {colour} ball"
        look_y = r
    elif subject_kind == "sliding box":
        colour = _pick(g, colours)
        he = (_rand(g, 0.25, 0.45), _rand(g, 0.2, 0.4), _rand(g, 0.25, 0.45))
        ang = _rand(g, -math.pi, math.pi)
        sp = _rand(g, 1.5, 3.0)
        boxes.append(
            PhysicalBox(
                SlidingBox(
                    he,
                    (-math.sin(ang), he[1], -math.cos(ang)),
                    (math.sin(ang) * sp, 0.0, math.cos(ang) * sp),
                    friction=_rand(g, 0.2, 0.6),
                    yaw=ang,
                ),
                colour,
            )
        )
        phrase = f"a sliding {colour} box"
        look_y = he[1]
    else:
        colour = _pick(g, colours)
        kind = _pick(g, ("sphere", "box", "cylinder"))
        size = {"sphere": (0.5, 0.5, 0.5), "box": (0.45, 0.45, 0.45), "cylinder": (0.35, 0.6, 0.35)}
        label = {"sphere": "sphere", "box": "cube", "cylinder": "pillar"}[kind]
        props.append(
            Prop(
                kind, (0.0, size[kind][1], 0.0), size[kind], colour, label, yaw=_rand(g, 0, math.pi)
            )
        )
        phrase = f"a {colour} {label}"
        look_y = size[kind][1]

    # Longer lenses stand further back, as a DP would, so the subject keeps a similar size.
    dist = _rand(g, 3.5, 8.0) * min(4.0, max(0.7, focal_mm / 35.0)) ** 0.8
    az = _rand(g, -math.pi, math.pi)
    cam_h = _rand(g, 1.0, 2.2)
    cam = (math.sin(az) * dist, cam_h, math.cos(az) * dist)
    # Background dressing: a ring of props 6–30 m away so depth of field and parallax show.
    for _ in range(int(torch.randint(7, 12, (), generator=g))):
        ang = az + math.pi + _rand(g, -1.3, 1.3)
        rr = _rand(g, 5.0, 28.0) + 0.5 * dist
        x, z = math.sin(ang) * rr, math.cos(ang) * rr
        kind = _pick(g, ("tree", "tree", "box", "cylinder", "sphere"))
        s = _rand(g, 0.4, 1.6)
        if kind == "tree":
            props.append(
                Prop(
                    "tree",
                    (x, 0.0, z),
                    (s * 1.2, s * 4.0, s),
                    _pick(g, ["green", "green", "teal", "orange", "yellow"]),
                    "tree",
                )
            )
        elif kind == "box":
            props.append(
                Prop(
                    "box",
                    (x, s, z),
                    (s, s, s),
                    _pick(g, colours),
                    "crate",
                    yaw=_rand(g, 0, math.pi),
                )
            )
        elif kind == "cylinder":
            props.append(
                Prop(
                    "cylinder",
                    (x, s * 1.5, z),
                    (s * 0.4, s * 1.5, s * 0.4),
                    _pick(g, colours),
                    "pillar",
                )
            )
        else:
            props.append(Prop("sphere", (x, s, z), (s, s, s), _pick(g, colours), "sphere"))
    # Sometimes a foreground prop near the camera, off-axis: a depth-of-field and parallax cue.
    if _rand(g) < 0.5:
        side = _pick(g, (-1.0, 1.0))
        fd = _rand(g, 0.35, 0.55) * dist
        perp = (math.cos(az) * side, -math.sin(az) * side)
        fx = cam[0] - math.sin(az) * fd + perp[0] * fd * 0.35
        fz = cam[2] - math.cos(az) * fd + perp[1] * fd * 0.35
        s = _rand(g, 0.2, 0.4)
        props.append(
            Prop("cylinder", (fx, s * 2, fz), (s * 0.5, s * 2, s * 0.5), _pick(g, colours), "post")
        )
    return Scene(
        ground=ground,
        lighting=lighting,
        props=tuple(props),
        balls=tuple(balls),
        boxes=tuple(boxes),
        characters=tuple(characters),
        subject_kind=subject_kind,
        subject_phrase=phrase,
        camera=BasePose(position=cam, look_at=(0.0, look_y, 0.0)),
    )
