"""Captions in the language of cinematography, generated from the scene graph and camera spec.

Every camera phrase used here is one `parse_camera_language` reads back, so a caption round-trips
to its spec (tested); the subject, light and ground phrases vary freely.
"""

from __future__ import annotations

import random

import torch

from generation.engine.camera import CameraMove, CameraSpec
from generation.engine.world.scene import Scene

_SPEED_WORD = {0.25: "very slow", 0.5: "slow", 1.0: "", 2.0: "fast", 5.0: "whip"}

_MOVE_PHRASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("static", "none"): ("static shot", "locked-off frame", "static camera"),
    ("pan", "left"): ("pan left", "pans left", "panning left"),
    ("pan", "right"): ("pan right", "pans right", "panning right"),
    ("tilt", "up"): ("tilt up", "tilting up"),
    ("tilt", "down"): ("tilt down", "tilting down"),
    ("dolly", "in"): ("push-in", "dolly in", "push in"),
    ("dolly", "out"): ("pull-out", "dolly out", "pull back"),
    ("truck", "left"): ("truck left", "trucking left", "crab left"),
    ("truck", "right"): ("truck right", "trucking right", "crab right"),
    ("crane", "up"): ("crane up", "boom up", "jib up"),
    ("crane", "down"): ("crane down", "boom down"),
    ("orbit", "left"): ("orbit left", "arc left", "orbiting left"),
    ("orbit", "right"): ("orbit right", "arc right", "orbiting right"),
    ("zoom", "in"): ("zoom in", "zooming in"),
    ("zoom", "out"): ("zoom out", "zooming out"),
    ("handheld", "none"): ("handheld", "handheld shot", "handheld camera"),
    ("steadicam", "forward"): ("steadicam follow forward", "steadicam glide forward"),
    ("steadicam", "backward"): ("steadicam follow backward", "steadicam glide backward"),
}
_EASING_PHRASE = {
    "linear": "",
    "ease_in": "easing in",
    "ease_out": "easing out",
    "ease_in_out": "eased in and out",
}
_MOOD_PHRASES = {
    "daylight": ("in bright daylight", "on a sunny afternoon", "in midday sun"),
    "golden hour": ("at golden hour", "at sunset", "in low golden light"),
    "overcast": ("under an overcast sky", "on a grey overcast day", "in soft overcast light"),
    "night": ("at night under a warm lamp", "at night", "lit by a lamp at night"),
}
_GROUND_PHRASES = {
    "checker": ("on a checkered floor", "over a checkerboard ground"),
    "tiles": ("on a tiled plaza", "on terracotta tiles"),
    "grass": ("on a lawn", "on green grass"),
    "sand": ("on rippled sand", "on a sandy beach"),
    "wood": ("on a wooden deck", "on wooden planks"),
    "concrete": ("on concrete", "in a concrete yard"),
}
_ASPECT_PHRASES = {
    "16:9": ("16:9",),
    "2.39:1": ("anamorphic 2.39:1", "2.39:1 scope"),
    "1:1": ("1:1 frame",),
    "9:16": ("vertical 9:16", "9:16 vertical"),
    "4:3": ("4:3 frame", "4:3"),
}


def move_phrase(move: CameraMove, rng: random.Random) -> str:
    phrase = rng.choice(_MOVE_PHRASES[(move.kind, move.direction)])
    if move.kind == "static":
        return phrase
    word = _SPEED_WORD.get(float(move.speed), "")
    return f"{word} {phrase}" if word else phrase


def caption_for(scene: Scene, spec: CameraSpec, generator: torch.Generator) -> str:
    """One caption for a clip; `generator` picks among phrasings (deterministic per seed)."""
    rng = random.Random(int(torch.randint(0, 2**31 - 1, (), generator=generator)))
    moves = [m for m in spec.moves if m.kind != "static"] or [CameraMove()]
    camera = " and ".join(move_phrase(m, rng) for m in moves)
    easing = _EASING_PHRASE[moves[0].easing] if moves[0].kind != "static" else ""
    if easing:
        camera = f"{camera}, {easing}"
    subject = scene.subject_phrase
    if scene.characters:
        action = scene.characters[0].action
        subject += {"walk": " walking", "turn": " turning", "wave": " waving", "stand": ""}[action]
    prep = {"orbit": "around", "crane": "over", "static": "on"}.get(moves[0].kind, "on")
    lens = rng.choice(
        [f"{spec.focal_mm:g}mm", f"{spec.focal_mm:g}mm lens", f"on a {spec.focal_mm:g}mm"]
    )
    aperture = f"f/{spec.aperture:g}"
    if spec.aperture <= 2.8:
        aperture = rng.choice(
            [f"shallow depth of field at {aperture}", f"{aperture}, shallow focus"]
        )
    elif spec.aperture >= 8:
        aperture = rng.choice([f"deep focus at {aperture}", aperture])
    light = rng.choice(_MOOD_PHRASES[scene.lighting.mood])
    ground = rng.choice(_GROUND_PHRASES[scene.ground.kind])
    parts = [f"{camera} {prep} {subject} {ground}", lens, aperture, light]
    rng.shuffle(parts[1:3])
    if spec.aspect != "16:9" or rng.random() < 0.3:
        parts.append(rng.choice(_ASPECT_PHRASES[spec.aspect]))
    if spec.shutter_deg != 180:
        parts.append(
            rng.choice([f"{spec.shutter_deg:g}° shutter", f"{spec.shutter_deg:g}-degree shutter"])
        )
    if spec.focus_m is not None:
        parts.append(f"focus at {spec.focus_m:g} m")
    text = ", ".join(parts)
    return text[0].upper() + text[1:]
