from __future__ import annotations

from django.db import migrations

from generation.engine.camera import ASPECT_RATIOS, CameraSpec


def batches_and_cameras(apps, schema_editor) -> None:
    """Each existing job becomes the only take of its own batch, which keeps the job's
    idempotency key; its camera is read from its frozen recipe."""
    job_model = apps.get_model("generation", "RenderJob")
    batch_model = apps.get_model("generation", "RenderBatch")
    db = schema_editor.connection.alias
    jobs = job_model.objects.using(db).order_by("pk")
    for job in jobs.iterator():
        batch = batch_model.objects.using(db).create(
            team_id=job.team_id,
            requested_by_id=job.requested_by_id,
            idempotency_key=job.idempotency_key,
            takes=1,
        )
        batch_model.objects.using(db).filter(pk=batch.pk).update(created_at=job.created_at)
        try:
            camera = CameraSpec.from_dict(
                {**(job.recipe.get("camera") or {}), "aspect": job.aspect}
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            camera = CameraSpec(aspect=job.aspect) if job.aspect in ASPECT_RATIOS else CameraSpec()
        jobs.filter(pk=job.pk).update(batch=batch, take=0, camera=camera.to_dict())


class Migration(migrations.Migration):
    # Data only: on PostgreSQL, rows updated with deferred foreign-key checks pending cannot
    # be followed by ALTER TABLE in the same transaction, so the schema changes that follow
    # are a migration of their own.
    dependencies = [
        ("generation", "0003_batches_camera_error_detail"),
    ]

    operations = [
        migrations.RunPython(batches_and_cameras, migrations.RunPython.noop),
    ]
