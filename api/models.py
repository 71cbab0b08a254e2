"""Images an API client uploads to start or end a render from (a browser sends them with
its form instead). A render copies what it uses into its own inputs."""

from __future__ import annotations

from django.conf import settings
from django.db import models


def upload_path(upload: Upload, filename: str) -> str:
    return f"api-uploads/team-{upload.team_id}/{filename}"


class Upload(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="uploads")
    file = models.ImageField(upload_to=upload_path, max_length=300)
    bytes = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    content_type = models.CharField(max_length=32)
    sha256 = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Upload {self.pk} of team {self.team_id}"
