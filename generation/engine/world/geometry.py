"""Vectorised ray-primitive intersection: every pixel (and sample time) against every primitive.

Rays are (F, P, 3) for F sample times and P pixels; primitives are batched per kind (F, K, ...).
Each routine returns the nearest hit distance (F, P) (inf for a miss) and the primitive index.
"""

from __future__ import annotations

import torch

from generation.engine.world.noise import fbm
from generation.engine.world.primitives import PrimitiveBatch, PrimitiveSet

EPS = 1e-4
INF = float("inf")


def _empty(o: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    shape = o.shape[:2]
    return torch.full(shape, INF, dtype=o.dtype, device=o.device), torch.zeros(
        shape, dtype=torch.int64, device=o.device
    )


def hit_spheres(
    o: torch.Tensor, d: torch.Tensor, s: PrimitiveBatch
) -> tuple[torch.Tensor, torch.Tensor]:
    if s.count == 0:
        return _empty(o)
    c = s.centre  # (F, K, 3)
    r2 = s.size[:, 0] ** 2  # (K,)
    # |o - c|² and d·(o - c) through matmuls, avoiding an (F, P, K, 3) tensor.
    oc_b = (d * o).sum(-1, keepdim=True) - d @ c.transpose(1, 2)  # (F, P, K)
    oc_2 = (o * o).sum(-1, keepdim=True) - 2 * o @ c.transpose(1, 2) + (c * c).sum(-1)[:, None]
    disc = oc_b * oc_b - (oc_2 - r2)
    sq = disc.clamp(min=0).sqrt()
    t0, t1 = -oc_b - sq, -oc_b + sq
    t = torch.where(t0 > EPS, t0, t1)
    t = torch.where((disc > 0) & (t > EPS), t, INF)
    return t.min(-1)


def _candidates(
    o: torch.Tensor, d: torch.Tensor, b: PrimitiveBatch
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(frame, pixel, primitive) index triples whose ray meets the primitive's bounding sphere.

    Most rays miss most primitives, so the exact box / cylinder tests run on these pairs only.
    """
    radius2 = (b.size * b.size).sum(-1)  # (K,) circumscribed sphere
    c = b.centre
    oc_b = (d * o).sum(-1, keepdim=True) - d @ c.transpose(1, 2)  # (F, P, K)
    oc_2 = (o * o).sum(-1, keepdim=True) - 2 * o @ c.transpose(1, 2) + (c * c).sum(-1)[:, None]
    inside = oc_2 < radius2
    # The sphere is ahead when the ray starts inside it or points towards its centre; this is the
    # far root > 0 test without a square root.
    hit = (oc_b * oc_b > oc_2 - radius2) & (inside | (oc_b < 0))
    return hit.nonzero(as_tuple=True)


def _to_local(o, d, b: PrimitiveBatch, f, p, k) -> tuple[torch.Tensor, torch.Tensor]:
    rot = b.rotation[f, k]  # (Q, 3, 3) world-from-local
    ol = ((o[f, p] - b.centre[f, k])[:, None, :] @ rot)[:, 0]  # (Q, 3)
    dl = (d[f, p][:, None, :] @ rot)[:, 0]
    return ol, dl


def _reduce_nearest(
    t: torch.Tensor, f, p, k, shape: torch.Size, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest hit per ray from per-pair distances: (F, P) distance and primitive index."""
    flat = f * shape[1] + p
    best = torch.full((shape[0] * shape[1],), INF, dtype=t.dtype, device=device)
    best = best.scatter_reduce(0, flat, t, reduce="amin")
    index = torch.zeros(shape[0] * shape[1], dtype=torch.int64, device=device)
    winner = (t == best[flat]) & torch.isfinite(t)
    index[flat[winner]] = k[winner]
    return best.view(shape), index.view(shape)


def hit_boxes(
    o: torch.Tensor, d: torch.Tensor, b: PrimitiveBatch
) -> tuple[torch.Tensor, torch.Tensor]:
    if b.count == 0:
        return _empty(o)
    f, p, k = _candidates(o, d, b)
    ol, dl = _to_local(o, d, b, f, p, k)
    size = b.size[k]
    inv = 1.0 / torch.where(dl.abs() < 1e-9, torch.full_like(dl, 1e-9), dl)
    t1 = (-size - ol) * inv
    t2 = (size - ol) * inv
    tmin = torch.minimum(t1, t2).amax(-1)
    tmax = torch.maximum(t1, t2).amin(-1)
    t = torch.where(tmin > EPS, tmin, tmax)
    t = torch.where((tmax >= tmin) & (t > EPS), t, INF)
    return _reduce_nearest(t, f, p, k, o.shape[:2], o.device)


def hit_cylinders(
    o: torch.Tensor, d: torch.Tensor, c: PrimitiveBatch
) -> tuple[torch.Tensor, torch.Tensor]:
    if c.count == 0:
        return _empty(o)
    f, p, k = _candidates(o, d, c)
    ol, dl = _to_local(o, d, c, f, p, k)
    r, hh = c.size[k, 0], c.size[k, 1]
    a = dl[..., 0] ** 2 + dl[..., 2] ** 2
    bq = ol[..., 0] * dl[..., 0] + ol[..., 2] * dl[..., 2]
    cq = ol[..., 0] ** 2 + ol[..., 2] ** 2 - r * r
    disc = bq * bq - a * cq
    a_safe = a.clamp(min=1e-12)
    t_side = (-bq - disc.clamp(min=0).sqrt()) / a_safe
    y_side = ol[..., 1] + t_side * dl[..., 1]
    side_ok = (disc > 0) & (t_side > EPS) & (y_side.abs() <= hh)
    t_side = torch.where(side_ok, t_side, INF)
    dy = torch.where(dl[..., 1].abs() < 1e-9, torch.full_like(dl[..., 1], 1e-9), dl[..., 1])
    best = t_side
    for cap in (hh, -hh):
        tc = (cap - ol[..., 1]) / dy
        px = ol[..., 0] + tc * dl[..., 0]
        pz = ol[..., 2] + tc * dl[..., 2]
        ok = (tc > EPS) & (px * px + pz * pz <= r * r)
        best = torch.minimum(best, torch.where(ok, tc, INF))
    return _reduce_nearest(best, f, p, k, o.shape[:2], o.device)


def nearest_hit(o: torch.Tensor, d: torch.Tensor, prims: PrimitiveSet) -> tuple[torch.Tensor, ...]:
    """Nearest primitive hit: t (F, P), kind (F, P) (0 sphere, 1 box, 2 cylinder), index (F, P)."""
    ts, i_s = hit_spheres(o, d, prims.spheres)
    tb, i_b = hit_boxes(o, d, prims.boxes)
    tc, i_c = hit_cylinders(o, d, prims.cylinders)
    stacked = torch.stack([ts, tb, tc], -1)
    t, kind = stacked.min(-1)
    index = torch.where(kind == 0, i_s, torch.where(kind == 1, i_b, i_c))
    return t, kind, index


def any_hit(
    o: torch.Tensor, d: torch.Tensor, prims: PrimitiveSet, max_t: torch.Tensor | float
) -> torch.Tensor:
    """(F, P) bool: the segment o + t d, 0 < t < max_t, hits some primitive (shadow rays)."""
    t, _, _ = nearest_hit(o, d, prims)
    return t < max_t


def _gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (F, K, ...) gathered per pixel with index (F, P) -> (F, P, ...)."""
    if x.shape[1] == 0:
        return torch.zeros(*index.shape, *x.shape[2:], dtype=x.dtype, device=x.device)
    f = torch.arange(x.shape[0], device=x.device)[:, None]
    return x[f, index.clamp(max=x.shape[1] - 1)]


def surface(
    p: torch.Tensor, kind: torch.Tensor, index: torch.Tensor, prims: PrimitiveSet
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normals (F, P, 3) and albedo (F, P, 3) of the primitive hit at points p (F, P, 3)."""
    normal = torch.zeros_like(p)
    albedo = torch.zeros_like(p)
    for k, batch in enumerate((prims.spheres, prims.boxes, prims.cylinders)):
        if batch.count == 0:
            continue
        mask = (kind == k)[..., None]
        centre = _gather(batch.centre, index)
        rot = _gather(batch.rotation, index)  # (F, P, 3, 3)
        size = batch.size[index.clamp(max=batch.count - 1)]  # (F, P, 3)
        local = torch.einsum("fpi,fpij->fpj", p - centre, rot)
        if k == 0:
            n_local = local / size
        elif k == 1:
            q = local / size
            axis = q.abs().argmax(-1, keepdim=True)
            n_local = torch.zeros_like(q).scatter(-1, axis, torch.gather(q, -1, axis).sign())
        else:
            radial = torch.stack(
                [local[..., 0], torch.zeros_like(local[..., 0]), local[..., 2]], -1
            )
            radial = radial / size[..., 0:1]
            cap = (local[..., 1:2].abs() / size[..., 1:2]) > (radial.norm(dim=-1, keepdim=True))
            cap_n = torch.zeros_like(local)
            cap_n[..., 1] = local[..., 1].sign()
            n_local = torch.where(cap, cap_n, radial)
        n_world = torch.einsum("fpij,fpj->fpi", rot, n_local)
        n_world = n_world / n_world.norm(dim=-1, keepdim=True).clamp(min=1e-8)
        col = batch.colour[index.clamp(max=batch.count - 1)]
        if k == 0:
            # Stripes in the sphere's own frame so rolling and spinning are visible.
            pattern = batch.pattern[index.clamp(max=batch.count - 1)][..., None]
            stripe = (torch.sin(local[..., 1:2] / size[..., 1:2] * 7.0) > 0.3).to(p.dtype)
            col = torch.where(pattern == 1, col * (1 - 0.6 * stripe) + 0.35 * stripe, col)
        # Surface grain in the primitive's own frame: texture that moves with the object, so
        # the flow estimator (and the model) can see it move, turn and roll.
        q = local / size[..., 0:1] * 2.5
        grain = fbm(q[..., 0] + 0.7 * q[..., 1], q[..., 2] - 0.4 * q[..., 1], 11, octaves=2)
        col = col * (0.72 + 0.56 * grain[..., None])
        normal = torch.where(mask, n_world, normal)
        albedo = torch.where(mask, col, albedo)
    return normal, albedo
