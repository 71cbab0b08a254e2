"""The runtime's character-lock gateway: embeddings and the drift score as the studio calls
them, with numpy frames in and plain numbers out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generation import runtime
from generation.engine.world.characters import random_identity
from generation.engine.world.portraits import render_character_view


def _views(seed: int, count: int) -> list:
    g = torch.Generator().manual_seed(seed)
    who = random_identity(g)
    return [render_character_view(who, g) for _ in range(count)]


def test_a_take_of_the_character_scores_higher_than_a_take_of_someone_else():
    mara, theo = _views(501, 4), _views(502, 4)
    refs = [v.crop().numpy() for v in mara[:3]]
    own = runtime.character_similarity([mara[3].frame.numpy()], refs)
    other = runtime.character_similarity([theo[3].frame.numpy(), theo[2].frame.numpy()], refs)
    assert isinstance(own, float) and 0.0 <= other < own <= 1.0


def test_identity_embedding_gives_unit_rows_per_image():
    views = _views(503, 2)
    emb = runtime.identity_embedding([v.crop().numpy() for v in views])
    assert emb.dtype == np.float32 and emb.shape[0] == 2
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("frames", "references", "message"),
    [
        ([], [np.zeros((8, 8, 3), np.uint8)], "at least one frame"),
        ([np.zeros((8, 8, 3), np.uint8)], [], "at least one reference"),
        ([np.zeros((8, 8, 3), np.float32)], [np.zeros((8, 8, 3), np.uint8)], "uint8"),
        ([np.zeros((8, 8, 3), np.uint8)], [np.zeros((8, 8), np.uint8)], "uint8"),
    ],
)
def test_bad_frames_or_references_are_a_clear_error(frames, references, message):
    with pytest.raises(ValueError, match=message):
        runtime.character_similarity(frames, references)
