from __future__ import annotations

from django.db import migrations, models

import generation.fields
from generation.engine.camera import ASPECT_RATIOS, CameraSpec


def camera_specs(apps, schema_editor) -> None:
    """Make every saved camera a complete spec, its aspect the shot's: the field now reads
    back as a validated ``CameraSpec``. A camera the spec refuses becomes the default one
    at the shot's aspect rather than a shot that cannot be opened."""
    shot_model = apps.get_model("storyboards", "Shot")
    rows = shot_model.objects.using(schema_editor.connection.alias)
    for pk, camera, aspect in rows.values_list("pk", "camera", "aspect").iterator():
        try:
            spec = CameraSpec.from_dict({**(camera or {}), "aspect": aspect})
        except (ValueError, TypeError, KeyError, AttributeError):
            spec = CameraSpec(aspect=aspect) if aspect in ASPECT_RATIOS else CameraSpec()
        rows.filter(pk=pk).update(camera=spec.to_dict(), aspect=spec.aspect)


class Migration(migrations.Migration):
    dependencies = [
        ("storyboards", "0002_shot_variants_current_job"),
    ]

    operations = [
        migrations.RunPython(camera_specs, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="shot",
            name="camera",
            field=generation.fields.CameraSpecField(default=generation.fields.default_camera),
        ),
        migrations.AlterField(
            model_name="shot",
            name="aspect",
            field=models.CharField(
                default="16:9", help_text="The camera's aspect ratio, for listings.", max_length=8
            ),
        ),
        migrations.AlterField(
            model_name="shot",
            name="mode",
            field=models.CharField(
                choices=[
                    ("t2v", "Text to video"),
                    ("i2v", "Image to video"),
                    ("v2v", "Restyle"),
                    ("extend", "Extend"),
                    ("keyframes", "Start + end keyframes"),
                    ("reframe", "Reframe"),
                ],
                default="t2v",
                max_length=16,
            ),
        ),
    ]
