"""The shipped weights are the files their manifest names, byte for byte."""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


def test_every_shipped_weight_file_matches_its_sha256_and_none_is_unlisted():
    listed = {}
    for line in (WEIGHTS / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name.lstrip("*")] = digest
    shipped = {str(p.relative_to(WEIGHTS)) for p in WEIGHTS.rglob("*.safetensors")}
    assert shipped == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((WEIGHTS / name).read_bytes()).hexdigest() == digest, name


def test_the_shipped_weights_stay_within_sixty_megabytes():
    total = sum(p.stat().st_size for p in WEIGHTS.rglob("*.safetensors"))
    assert total <= 60 * 1024 * 1024, f"{total / 2**20:.1f} MiB"
