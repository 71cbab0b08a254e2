from __future__ import annotations

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import generation.fields


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_tables_take_the_app_names"),
        ("billing", "0002_tables_take_the_app_names"),
        ("generation", "0002_inputs"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="RenderBatch",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("idempotency_key", models.CharField(blank=True, max_length=64)),
                ("fingerprint", models.CharField(blank=True, max_length=64)),
                ("takes", models.PositiveSmallIntegerField(default=1)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "requested_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="render_batches",
                        to="accounts.team",
                    ),
                ),
            ],
            options={"ordering": ["-created_at", "-pk"]},
        ),
        migrations.AddConstraint(
            model_name="renderbatch",
            constraint=models.UniqueConstraint(
                condition=models.Q(("idempotency_key", ""), _negated=True),
                fields=("team", "idempotency_key"),
                name="renderbatch_idempotency_per_team",
            ),
        ),
        migrations.AddConstraint(
            model_name="renderbatch",
            constraint=models.CheckConstraint(
                condition=models.Q(("takes__gte", 1)), name="renderbatch_takes_gte_1"
            ),
        ),
        migrations.AddField(
            model_name="renderjob",
            name="batch",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="jobs",
                to="generation.renderbatch",
            ),
        ),
        migrations.AddField(
            model_name="renderjob",
            name="take",
            field=models.PositiveSmallIntegerField(
                default=0, help_text="0 for a batch's first take."
            ),
        ),
        migrations.AddField(
            model_name="renderjob",
            name="camera",
            field=generation.fields.CameraSpecField(default=generation.fields.default_camera),
        ),
        migrations.AddField(
            model_name="renderjob",
            name="error_detail",
            field=models.TextField(
                blank=True, help_text="The exception behind a failure, for administrators only."
            ),
        ),
    ]
