from __future__ import annotations

import torch

from generation.engine.text import TEXT_DIM, load_text_encoder


def test_tokens_mask_and_pooled_shapes_and_norm():
    enc = load_text_encoder()
    batch = enc.encode(["a red ball rolls to the left", "sky"])
    assert batch.tokens.shape[0] == 2 and batch.tokens.shape[2] == TEXT_DIM
    assert batch.mask[0].all() and batch.mask[1].sum() == 3  # [CLS] sky [SEP]
    assert torch.all(batch.tokens[1, 3:] == 0)
    torch.testing.assert_close(batch.pooled.norm(dim=-1), torch.ones(2))


def test_encoding_is_deterministic_and_cached():
    enc = load_text_encoder()
    a = enc.encode(["a blue cube on grass"])
    b = enc.encode(["a blue cube on grass"])
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.pooled, b.pooled)
    assert load_text_encoder() is enc


def test_meaning_is_reflected_in_the_pooled_embedding():
    enc = load_text_encoder()
    p = enc.encode(["a red ball", "a crimson sphere", "tax law reform"]).pooled
    assert p[0] @ p[1] > p[0] @ p[2] + 0.2


def test_batching_does_not_change_a_prompt_encoding():
    enc = load_text_encoder()
    alone = enc.encode(["green cone"])
    padded = enc.encode(["green cone", "a much longer prompt about a yellow cylinder at dusk"])
    n = int(alone.mask.sum())
    assert torch.equal(padded.tokens[0, :n], alone.tokens[0])
    assert not padded.mask[0, n:].any()
