"""``manage.py export_storyboard PROJECT_ID --out DIR``: a storyboard's export, for scripts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from storyboards import exports
from storyboards.models import Project


class Command(BaseCommand):
    help = (
        "Write a storyboard's film (MP4), its edit (.otio, CMX 3600 .edl), the per-shot media "
        "and the recipes into a folder."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project_id", type=int)
        parser.add_argument("--out", type=Path, required=True, help="folder to write into")

    def handle(self, *args: Any, project_id: int, out: Path, **options: Any) -> None:
        project = Project.objects.filter(pk=project_id).first()
        if project is None:
            raise CommandError(f"No project {project_id}.")
        out.mkdir(parents=True, exist_ok=True)

        def report(percent: int, step: str) -> None:
            if options["verbosity"] > 1:
                self.stderr.write(f"{percent:3d}% {step}")

        try:
            files = exports.write_export(project, out, progress=report)
        except exports.ExportRejected as exc:
            raise CommandError(exc.message) from exc
        for path in (files.video, files.timeline, files.edl, files.media, files.recipes):
            self.stdout.write(str(path))
        self.stdout.write(
            self.style.SUCCESS(f"{files.frames} frames at {files.fps} fps into {out}")
        )
