"""What a GPU worker does with one adapter training: claim it, train through ``runtime``
into a private folder, rename the folder into place, then make the version ready and settle.

A killed worker leaves at most a ``*.partial-*`` folder that no ready adapter points at; the
reaper removes it and trains again or refunds. Every other exit leaves the adapter in a final
state with its reservation settled or released.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
import time
import traceback
import uuid
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from PIL import Image

from characters import lifecycle, progress
from characters.models import CharacterAdapter
from generation import runtime
from generation.execution import worker_name

log = logging.getLogger(__name__)

FAILED = "Training the character failed on the worker."


class Heartbeat:
    """Touches the adapter every few seconds from a thread and watches for a cancel."""

    def __init__(self, adapter_id: int, interval_s: float) -> None:
        self.adapter_id = adapter_id
        self.interval_s = interval_s
        self.cancelled = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval_s):
                self.beat()
        finally:
            connection.close()

    def beat(self) -> None:
        live = CharacterAdapter.objects.filter(pk=self.adapter_id)
        live.filter(state__in=CharacterAdapter.ACTIVE).update(heartbeat_at=timezone.now())
        if live.filter(cancel_requested=True).exists():
            self.cancelled.set()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 5)


def references(adapter: CharacterAdapter) -> list[np.ndarray]:
    """The character's reference images, uint8 (H, W, 3) each."""
    out = []
    for ref in adapter.character.references.all():
        with ref.image.open("rb") as fh, Image.open(fh) as img:
            out.append(np.array(img.convert("RGB")))
    return out


def weights_sha256(folder: Path) -> str:
    """SHA-256 over the folder's files (names and bytes, in name order): what a recipe records
    so a re-render can tell it got the same adapter."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _train(adapter: CharacterAdapter, heartbeat: Heartbeat) -> CharacterAdapter | None:
    started = time.perf_counter()
    final = lifecycle.adapter_folder(adapter)
    partial = final.with_name(f"{final.name}.partial-{uuid.uuid4().hex[:8]}")
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        runtime.train_character(
            references(adapter),
            adapter.character.caption,
            partial,
            progress=progress.TrainingReporter(adapter),
            is_cancelled=heartbeat.cancelled.is_set,
            **settings.CHARACTER_TRAINING,
        )
        if heartbeat.cancelled.is_set():
            raise runtime.Cancelled("cancelled after the last step")
        sha256 = weights_sha256(partial)
        # A version's folder is never in use before it is ready: one left by a worker that
        # died between the rename and the commit is replaced.
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    record = _record(final)
    done = lifecycle.adapter_succeed(
        adapter_id=adapter.pk,
        path=final,
        sha256=sha256,
        record=record,
        seconds=time.perf_counter() - started,
    )
    if done is None:  # cancelled or reaped while finishing: nothing may point at it
        shutil.rmtree(final, ignore_errors=True)
    else:
        loss = record.get("loss_last")
        if isinstance(loss, int | float):
            CharacterAdapter.objects.filter(pk=done.pk).update(loss=loss)
    return done


def _record(folder: Path) -> dict:
    meta = folder / "adapter.json"
    try:
        doc = json.loads(meta.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def adapter_train_execute(adapter_id: int) -> str:
    """Train one adapter to a final state. Returns the state it ended in, or 'skipped'."""
    close_old_connections()
    adapter = lifecycle.adapter_claim(adapter_id=adapter_id, worker=worker_name())
    if adapter is None:
        return "skipped"
    try:
        with Heartbeat(adapter.pk, settings.RENDER_HEARTBEAT_S) as heartbeat:
            done = _train(adapter, heartbeat)
        return done.state if done else "skipped"
    except runtime.Cancelled:
        lifecycle.adapter_mark_cancelled(adapter_id=adapter.pk)
        return CharacterAdapter.State.CANCELLED
    except Exception as exc:
        log.exception("character adapter %s failed", adapter.pk)
        lifecycle.adapter_fail(
            adapter_id=adapter.pk,
            message=runtime.user_message(exc) or FAILED,
            detail="".join(traceback.format_exception(exc))[-8000:],
        )
        return CharacterAdapter.State.FAILED
