from __future__ import annotations

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0004_fill_batches_and_cameras"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="renderjob",
            name="renderjob_idempotency_per_team",
        ),
        migrations.RemoveField(
            model_name="renderjob",
            name="idempotency_key",
        ),
        migrations.AlterField(
            model_name="renderjob",
            name="batch",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="jobs",
                to="generation.renderbatch",
            ),
        ),
        migrations.AddConstraint(
            model_name="renderjob",
            constraint=models.UniqueConstraint(
                fields=("batch", "take"), name="renderjob_one_per_take"
            ),
        ),
        migrations.AlterField(
            model_name="renderjob",
            name="aspect",
            field=models.CharField(
                help_text="The camera's aspect ratio, for listings.", max_length=8
            ),
        ),
        migrations.AlterField(
            model_name="renderjob",
            name="error_message",
            field=models.CharField(
                blank=True, help_text="What the user is told: a plain sentence.", max_length=500
            ),
        ),
        migrations.AlterField(
            model_name="renderjob",
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
                max_length=16,
            ),
        ),
    ]
