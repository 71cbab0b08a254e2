from __future__ import annotations

from django.db import migrations

APP = "moderation"
MODELS = ["moderationterm", "moderationdecision"]


def adopt_content_types(apps, schema_editor) -> None:
    """Give the content types (and so the permissions and admin history) of the models this
    app took over from "dailies" to this app, instead of leaving them stale."""
    content_type = apps.get_model("contenttypes", "ContentType")
    rows = content_type.objects.using(schema_editor.connection.alias)
    for model in MODELS:
        if not rows.filter(app_label=APP, model=model).exists():
            rows.filter(app_label="dailies", model=model).update(app_label=APP)


class Migration(migrations.Migration):
    """Tables named for the app that holds them (they kept their first app"s names until
    now); renaming keeps every row and every foreign key pointing at it."""

    dependencies = [
        ("moderation", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelTable(name="moderationterm", table=None),
        migrations.AlterModelTable(name="moderationdecision", table=None),
        migrations.RunPython(adopt_content_types, migrations.RunPython.noop),
    ]
