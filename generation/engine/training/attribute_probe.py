"""Train the attribute probe's heads on the identity encoder's features and write
`weights/attribute_probe.*`.

    python -m generation.engine.training.attribute_probe --epochs 300

The encoder stays frozen. Its features are taken once for the identity trainer's cached world
shots: two jittered, augmented crops of each view's figure (labelled with its shirt, trousers
and headwear) and one crop of its scenery (no figure), the same crops the encoder trained on.
Accuracy on held-out characters, read from whole frames as the benchmark reads them, is printed
and stored in the weights' metadata.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from generation.engine.attribute_probe import (
    ATTRIBUTES,
    NAME,
    WEIGHTS_DIR,
    AttributeProbe,
    AttributeProbeConfig,
    AttributeReader,
    read_attributes,
)
from generation.engine.identity import encoder_input, load_encoder
from generation.engine.training.identity import (
    HELD_OUT_SEED,
    TRAIN_SEED,
    augment,
    background_crop,
    cached_views,
    jittered_crop,
)
from generation.engine.weights import save_weights


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--identities", type=int, default=700)
    parser.add_argument("--views", type=int, default=5)
    parser.add_argument("--held-out", type=int, default=80)
    parser.add_argument("--eval-views", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=Path("var/identity"))
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    encoder = load_encoder()
    train = cached_views(args.cache, TRAIN_SEED, args.identities, args.views)
    held = cached_views(args.cache, HELD_OUT_SEED, args.held_out, 5)
    rng, g = random.Random(0), torch.Generator().manual_seed(0)
    crops: list = []
    labels: dict[str, list[int]] = {k: [] for k in ATTRIBUTES}
    figure: list = []
    for person in train:
        for v in person:
            for _ in range(2):
                crops.append(jittered_crop(v, rng))
                figure.append(1.0)
                for k, opts in ATTRIBUTES.items():
                    labels[k].append(opts.index(getattr(v.identity, k)))
            bg = background_crop(v, rng)
            if bg is not None:
                crops.append(bg)
                figure.append(0.0)
                for k in ATTRIBUTES:
                    labels[k].append(-100)  # no attributes to learn from scenery
    feats = []
    with torch.inference_mode():
        for i in range(0, len(crops), 256):
            x = augment(encoder_input(crops[i : i + 256], encoder.cfg.size), g)
            feats.append(encoder.features(x))
    x = torch.cat(feats).clone()
    y = {k: torch.tensor(v) for k, v in labels.items()}
    is_figure = torch.tensor(figure)
    print(f"features of {len(x)} crops", flush=True)
    probe = AttributeProbe(AttributeProbeConfig(features=x.shape[1]))
    opt = torch.optim.AdamW(probe.parameters(), lr=1e-2, weight_decay=1e-3)
    for epoch in range(args.epochs):
        out = probe(x)
        loss = sum(F.cross_entropy(out[k], y[k], ignore_index=-100) for k in ATTRIBUTES)
        loss = loss + F.binary_cross_entropy_with_logits(out["figure"], is_figure)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if epoch % 50 == 0:
            print(f"epoch {epoch} loss {loss.item():.3f}", flush=True)
    probe.eval()
    reader = AttributeReader(encoder, probe)
    views = [v for p in held for v in p][: args.eval_views]
    read = [read_attributes(reader, v.frame[None])[0] for v in views]
    pairs = list(zip(read, views, strict=True))
    accuracy = {
        k: round(sum(r[k] == getattr(v.identity, k) for r, v in pairs) / len(views), 4)
        for k in ATTRIBUTES
    }
    accuracy["all_three"] = round(
        sum(all(r[k] == getattr(v.identity, k) for k in ATTRIBUTES) for r, v in pairs) / len(views),
        4,
    )
    print("held-out accuracy (whole frames)", accuracy, flush=True)
    path = save_weights(
        probe,
        probe.cfg,
        args.out,
        NAME,
        metadata={
            "epochs": args.epochs,
            "train_characters": len(train),
            "train_crops": len(x),
            "train_seed": TRAIN_SEED,
            "held_out_seed": HELD_OUT_SEED,
            "held_out_views": len(views),
            "held_out_accuracy": accuracy,
        },
    )
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
