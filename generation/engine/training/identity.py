"""Train the identity encoder on world characters and write `weights/identity_encoder.*`.

    python -m generation.engine.training.identity --identities 700 --views 5 --minutes 4

Each training identity is a random world character (`random_identity`) seen in `--views`
random shots (`render_character_view`: scene, light, lens, aspect, camera move, action and
moment all drawn afresh). A batch holds P identities x K views of each plus crops of the same
frames' backgrounds, and the loss is supervised contrastive (Khosla et al. 2020): a view's
positives are the other views of its character; other characters and the backgrounds are
negatives, so a window of scenery never matches a character. Crops are jittered around the
figure's box, half of them square windows with scenery around the figure as the drift score's
search takes them, and blurred, noised, shrunk and flipped, because takes are softer than
renders. Held-out characters (another world seed) measure retrieval and the same-versus-other
separation, printed and stored in the weights' metadata.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from generation.engine.identity import (
    NAME,
    WEIGHTS_DIR,
    IdentityConfig,
    IdentityEncoder,
    embed,
    encoder_input,
    figure_similarity,
)
from generation.engine.optics import gaussian_blur
from generation.engine.weights import save_weights
from generation.engine.world.characters import random_identity
from generation.engine.world.portraits import CharacterView, render_character_view

TRAIN_SEED = 11
HELD_OUT_SEED = 9_011


def render_views(seed: int, identities: int, views: int) -> list[list[CharacterView]]:
    """`views` shots of each of `identities` characters drawn from world seed `seed`."""
    g = torch.Generator().manual_seed(seed)
    people = [random_identity(g) for _ in range(identities)]
    return [[render_character_view(p, g) for _ in range(views)] for p in people]


def cached_views(path: Path, seed: int, identities: int, views: int) -> list[list[CharacterView]]:
    key = f"{seed}-{identities}-{views}"
    file = path / f"identity-views-{key}.pt"
    if file.exists():
        data = torch.load(file, weights_only=False)
        return data
    data = render_views(seed, identities, views)
    path.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    torch.save(data, tmp)
    tmp.rename(file)
    return data


def jittered_crop(view: CharacterView, rng: random.Random) -> Tensor:
    """The figure's box, moved and grown at random; half the time as a square window."""
    top, left, bottom, right = view.box
    h, w = view.frame.shape[:2]
    bh, bw = max(2, bottom - top), max(2, right - left)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    grow = rng.uniform(0.95, 1.3)
    cy += rng.uniform(-0.08, 0.08) * bh
    cx += rng.uniform(-0.08, 0.08) * bw
    if rng.random() < 0.5:
        bh = bw = max(bh, bw)
    gh, gw = bh * grow, bw * grow
    t, b = max(0, round(cy - gh / 2)), min(h, round(cy + gh / 2))
    lft, r = max(0, round(cx - gw / 2)), min(w, round(cx + gw / 2))
    if b - t < 2 or r - lft < 2:
        return view.crop()
    return view.frame[t:b, lft:r]


def background_crop(view: CharacterView, rng: random.Random) -> Tensor | None:
    """A square window of the frame that holds at most a sliver of the figure."""
    top, left, bottom, right = view.box
    h, w = view.frame.shape[:2]
    for _ in range(10):
        s = rng.randint(max(8, min(h, w) // 4), min(h, w))
        t, lft = rng.randint(0, h - s), rng.randint(0, w - s)
        overlap = max(0, min(bottom, t + s) - max(top, t)) * max(
            0, min(right, lft + s) - max(left, lft)
        )
        if overlap <= 0.1 * max(1, (bottom - top) * (right - left)):
            return view.frame[t : t + s, lft : lft + s]
    return None


def augment(x: Tensor, g: torch.Generator) -> Tensor:
    """(B, 3, S, S) in [-1, 1]: flips, softness (blur or a shrink-and-grow), exposure, noise."""
    b, _, s, _ = x.shape
    flip = (torch.rand(b, generator=g) < 0.5)[:, None, None, None]
    x = torch.where(flip, x.flip(-1), x)
    out = []
    for i in range(b):
        xi = x[i : i + 1]
        kind = float(torch.rand((), generator=g))
        if kind < 0.35:
            xi = gaussian_blur(xi, 0.3 + 1.5 * float(torch.rand((), generator=g)))
        elif kind < 0.6:
            small = int(torch.randint(12, s, (), generator=g))
            xi = F.interpolate(xi, size=(small, small), mode="bilinear", antialias=True)
            xi = F.interpolate(xi, size=(s, s), mode="bilinear")
        out.append(xi)
    x = torch.cat(out)
    gain = 1 + 0.15 * (2 * torch.rand(b, 1, 1, 1, generator=g) - 1)
    x = (x + 1) * gain - 1
    x = x + torch.randn(x.shape, generator=g) * 0.04 * torch.rand(b, 1, 1, 1, generator=g)
    return x.clamp(-1, 1)


def supcon_loss(z: Tensor, labels: Tensor, temperature: float = 0.1) -> Tensor:
    """Supervised contrastive loss of unit embeddings `z` (N, D); label -1 marks negatives
    only (backgrounds), which are never anchors."""
    sim = z @ z.T / temperature
    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool)
    sim = sim.masked_fill(eye, float("-inf"))
    log_prob = sim - sim.logsumexp(dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None]) & ~eye & (labels[:, None] >= 0)
    anchors = pos.any(dim=1)
    per_anchor = -(log_prob.masked_fill(~pos, 0).sum(1)[anchors] / pos.sum(1)[anchors])
    return per_anchor.mean()


@torch.inference_mode()
def evaluate(model: IdentityEncoder, people: list[list[CharacterView]]) -> dict[str, float]:
    """Retrieval and separation on held-out characters.

    top1: a view's nearest other view is of the same character. same_mean / other_mean: mean
    cosine of two views of one character, of two characters. auc: the chance a same pair
    scores above an other pair. take_auc / take_accuracy: the drift score
    (`figure_similarity`, whole frames searched for the figure) of a character's fifth view
    against their own first four crops versus against the next character's.
    """
    model.eval()
    crops = [v.crop() for views in people for v in views]
    labels = torch.tensor([i for i, views in enumerate(people) for _ in views])
    z = embed(model, crops)
    sim = z @ z.T
    eye = torch.eye(len(labels), dtype=torch.bool)
    same = (labels[:, None] == labels[None]) & ~eye
    other = labels[:, None] != labels[None]
    top1 = float((labels[sim.masked_fill(eye, -2).argmax(1)] == labels).float().mean())
    s, o = sim[same], sim[other]
    auc = float((s[:, None] > o[None, :: max(1, len(o) // 20000)]).float().mean())
    own, others = [], []
    for i, views in enumerate(people):
        refs = [v.crop() for v in views[:4]]
        nxt = [v.crop() for v in people[(i + 1) % len(people)][:4]]
        take = [views[4].frame]
        own.append(figure_similarity(model, take, refs))
        others.append(figure_similarity(model, take, nxt))
    own_t, other_t = torch.tensor(own), torch.tensor(others)
    return {
        "characters": len(people),
        "views": len(crops),
        "top1": round(top1, 4),
        "same_mean": round(float(s.mean()), 4),
        "other_mean": round(float(o.mean()), 4),
        "auc": round(auc, 4),
        "take_same_mean": round(float(own_t.mean()), 4),
        "take_other_mean": round(float(other_t.mean()), 4),
        "take_auc": round(float((own_t[:, None] > other_t[None]).float().mean()), 4),
        "take_accuracy": round(float((own_t > other_t).float().mean()), 4),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--identities", type=int, default=700)
    parser.add_argument("--views", type=int, default=5)
    parser.add_argument("--held-out", type=int, default=80)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--per-batch", type=int, default=32, help="characters per batch")
    parser.add_argument("--cache", type=Path, default=Path("var/identity"))
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    started = time.perf_counter()
    train = cached_views(args.cache, TRAIN_SEED, args.identities, args.views)
    held = cached_views(args.cache, HELD_OUT_SEED, args.held_out, 5)
    print(f"views ready in {time.perf_counter() - started:.0f}s", flush=True)
    cfg = IdentityConfig()
    model = IdentityEncoder(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    rng = random.Random(0)
    g = torch.Generator().manual_seed(0)
    clock = time.perf_counter()
    budget = args.minutes * 60
    total_steps = None
    step = 0
    while True:
        elapsed = time.perf_counter() - clock
        if elapsed >= budget:
            break
        # Cosine decay over the time budget.
        for group in opt.param_groups:
            group["lr"] = 2e-3 * 0.5 * (1 + torch.cos(torch.tensor(elapsed / budget * 3.14159)))
        model.train()
        who = rng.sample(range(len(train)), min(args.per_batch, len(train)))
        crops, labels = [], []
        for i in who:
            for v in rng.sample(train[i], 2):
                crops.append(jittered_crop(v, rng))
                labels.append(i)
            bg = background_crop(rng.choice(train[i]), rng)
            if bg is not None:
                crops.append(bg)
                labels.append(-1)
        x = augment(encoder_input(crops, cfg.size), g)
        loss = supcon_loss(model(x), torch.tensor(labels))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step} loss {loss.item():.3f} {elapsed:.0f}s", flush=True)
    total_steps = step
    report = evaluate(model, held)
    print("held-out", report, flush=True)
    path = save_weights(
        model,
        cfg,
        args.out,
        NAME,
        dtype=torch.bfloat16,
        metadata={
            "steps": total_steps,
            "train_characters": len(train),
            "views_per_character": args.views,
            "train_seed": TRAIN_SEED,
            "held_out_seed": HELD_OUT_SEED,
            "train_minutes": args.minutes,
            "held_out": report,
        },
    )
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
