from __future__ import annotations

import pytest

from generation.backends.base import Capabilities, UnsupportedRequest
from generation.backends.catalog import (
    BACKENDS,
    backend_spec,
    capabilities_of,
    capability_matrix,
)
from generation.engine.camera import ASPECT_RATIOS
from generation.engine.modes import Mode
from generation.engine.native import render_size


def test_every_backend_names_a_folder_for_each_role_its_modes_need():
    for spec in BACKENDS.values():
        roles = set(spec.folders)
        caps = spec.capabilities
        assert Mode.TEXT in caps.modes
        if spec.family == "wan":
            assert "t2v" in roles
            if Mode.EXTEND in caps.modes or caps.camera_geometry:
                assert "vace" in roles, spec.name
            if Mode.KEYFRAMES in caps.modes:
                assert roles & {"flf2v", "vace"}, spec.name
        else:
            assert roles == {"condition"}
        for folder in spec.folders.values():
            assert folder.folder == folder.repo_id.split("/")[1]


FEATURES = ("camera_geometry", "lora", "negative_prompt", "keyframes_anywhere", "loop")


@pytest.mark.parametrize("name", ["builtin", *BACKENDS])
def test_every_missing_mode_and_feature_has_a_reason(name: str):
    caps = capabilities_of(name)
    for mode in Mode:
        reason = caps.why_not(mode)
        assert (reason is None) == (mode in caps.modes), (name, mode)
        if reason is not None:
            assert reason != "Not available on this model.", (name, mode)
    for feature in FEATURES:
        reason = caps.why_not(feature)
        assert (reason is None) == bool(getattr(caps, feature)), (name, feature)
        if reason is not None:
            assert reason != "Not available on this model.", (name, feature)
    if not caps.camera_geometry:
        assert "prompt" in caps.why_not("camera_geometry")


def test_the_builtin_model_does_everything_but_pin_images_anywhere_at_its_native_sizes():
    caps = capabilities_of("builtin", builtin_fps=24.0)
    assert caps.modes == frozenset(Mode) and caps.loop and caps.camera_geometry and caps.lora
    assert caps.max_frames == 720 and caps.max_frames / caps.fps == 30.0
    assert not caps.keyframes_anywhere
    for aspect in ASPECT_RATIOS:
        assert caps.size_for(aspect) == render_size(aspect)


def test_sizes_keep_the_aspect_and_stay_within_the_model():
    for spec in BACKENDS.values():
        caps = spec.capabilities
        for aspect, ratio in ASPECT_RATIOS.items():
            h, w = caps.size_for(aspect)
            assert h % caps.size_multiple == 0 and w % caps.size_multiple == 0
            assert max(h, w) <= max(caps.max_size) and min(h, w) <= min(caps.max_size)
            assert abs(w / h - ratio) / ratio < 0.12, (spec.name, aspect, h, w)
        assert caps.size_for("16:9") == caps.default_size
        assert caps.size_for("9:16") == caps.default_size[::-1]


def test_an_unknown_aspect_is_refused():
    with pytest.raises(UnsupportedRequest, match="aspect"):
        BACKENDS["ltx-video"].capabilities.size_for("3:1")


def test_the_matrix_is_plain_data_with_memory_from_parameter_counts():
    rows = capability_matrix()
    assert [r["name"] for r in rows] == ["builtin", *BACKENDS]
    wan = next(r for r in rows if r["name"] == "wan2.1-1.3b")
    assert wan["modes"] == sorted(["t2v", "i2v", "keyframes", "extend", "v2v"])
    assert wan["max_seconds"] == pytest.approx(81 / 16, abs=0.01)
    # 1.3B + VACE transformers, one shared UMT5-XXL encoder and VAE.
    assert wan["memory_gb"] == {"all_resident": 19.0, "largest_folder": 16.2, "cpu_offload": 11.4}
    a14b = next(r for r in rows if r["name"] == "wan2.2-a14b")
    assert a14b["memory_gb"]["cpu_offload"] == 28.6  # one expert at a time


def test_capabilities_are_frozen():
    caps = BACKENDS["wan2.1-1.3b"].capabilities
    with pytest.raises(TypeError):
        caps.reasons["reframe"] = "x"  # type: ignore[index]
    assert isinstance(caps, Capabilities)


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"wan2\.1-1\.3b"):
        backend_spec("sora")
