"""A storyboard's edit for other editors: an OpenTimelineIO file and a CMX 3600 EDL, written
with ``opentimelineio`` and its CMX 3600 adapter, and read back as a plain summary.

Run as its own process (``python -m storyboards.otio_export write SPEC OUT_DIR`` and
``python -m storyboards.otio_export read FILE --fps N``): opentimelineio's native module does
not shut down cleanly inside a process that also holds the worker's other native libraries,
so the worker and the tests hand it a JSON spec instead of importing it. Imports no Django.

The spec: ``{"name", "fps", "clips": [{"name", "reel", "media", "available", "start",
"frames", "transition", "metadata"}], "dissolves": [{"before", "in", "out"}]}``: clip
``start``/``frames`` are its source range in frames of its media (``available`` long); a
dissolve ``before`` clip i overlaps ``in`` frames of clip i-1's handle and ``out`` of clip i's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import opentimelineio as otio  # type: ignore[import-untyped]  # ships no type information

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


def timeline(spec: dict[str, Any]) -> otio.schema.Timeline:
    rate = float(spec["fps"])
    result = otio.schema.Timeline(name=spec["name"])
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    result.tracks.append(track)
    dissolves = {d["before"]: d for d in spec.get("dissolves", [])}
    for index, clip in enumerate(spec["clips"]):
        if index in dissolves:
            d = dissolves[index]
            track.append(
                otio.schema.Transition(
                    name=f"Dissolve into {clip['name']}",
                    transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                    in_offset=RT(d["in"], rate),
                    out_offset=RT(d["out"], rate),
                )
            )
        media = otio.schema.ExternalReference(
            target_url=clip["media"], available_range=TR(RT(0, rate), RT(clip["available"], rate))
        )
        track.append(
            otio.schema.Clip(
                name=clip["name"],
                media_reference=media,
                source_range=TR(RT(clip["start"], rate), RT(clip["frames"], rate)),
                metadata={
                    "dailies": {"transition": clip["transition"], **clip.get("metadata", {})},
                    "cmx_3600": {"reel": clip["reel"]},
                },
            )
        )
    return result


def write(spec: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    """``<stem>.otio`` and ``<stem>.edl`` in ``out_dir``."""
    tl = timeline(spec)
    otio_path, edl_path = out_dir / f"{stem}.otio", out_dir / f"{stem}.edl"
    otio.adapters.write_to_file(tl, str(otio_path))
    otio.adapters.write_to_file(tl, str(edl_path), adapter_name="cmx_3600")
    return [otio_path, edl_path]


def summary(path: Path, fps: float) -> dict[str, Any]:
    """What an editor would see in ``path`` (.otio or .edl): each clip's name, source range
    and place on the record timeline (frames), the dissolves, and the total length."""
    if path.suffix == ".edl":
        tl = otio.adapters.read_from_file(str(path), adapter_name="cmx_3600", rate=fps)
    else:
        tl = otio.adapters.read_from_file(str(path))
    track = tl.video_tracks()[0]
    clips: list[dict[str, Any]] = []
    dissolves: list[dict[str, Any]] = []
    for item in track:
        if isinstance(item, otio.schema.Transition):
            dissolves.append(
                {
                    "before": len(clips),
                    "in": round(item.in_offset.to_frames(fps)),
                    "out": round(item.out_offset.to_frames(fps)),
                    "type": item.transition_type,
                }
            )
            continue
        placed = track.range_of_child(item)
        source = item.source_range
        clips.append(
            {
                "name": item.name,
                "start": round(source.start_time.to_frames(fps)),
                "frames": round(source.duration.to_frames(fps)),
                "record_in": round(placed.start_time.to_frames(fps)),
                "media": getattr(item.media_reference, "target_url", None),
                "transition": item.metadata.get("dailies", {}).get("transition"),
            }
        )
    return {
        "name": tl.name,
        "clips": clips,
        "dissolves": dissolves,
        "frames": round(tl.duration().to_frames(fps)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m storyboards.otio_export")
    commands = parser.add_subparsers(dest="command", required=True)
    w = commands.add_parser("write", help="write <stem>.otio and <stem>.edl from a JSON spec")
    w.add_argument("spec", type=Path)
    w.add_argument("out_dir", type=Path)
    w.add_argument("--stem", default="storyboard")
    r = commands.add_parser("read", help="print a JSON summary of an .otio or .edl file")
    r.add_argument("file", type=Path)
    r.add_argument("--fps", type=float, required=True)
    args = parser.parse_args(argv)
    if args.command == "write":
        spec = json.loads(args.spec.read_text())
        for path in write(spec, args.out_dir, args.stem):
            print(path)
    else:
        json.dump(summary(args.file, args.fps), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
