"""The websocket relay of a project's timeline: every take of its shots, as it renders."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from generation import progress
from generation.consumers import RelayConsumer
from storyboards import selectors


class ProjectConsumer(RelayConsumer):
    @database_sync_to_async
    def allowed(self, user: Any, object_id: int) -> bool:
        return selectors.user_can_see_project(user=user, project_id=object_id)

    def group_name(self, object_id: int) -> str:
        return progress.project_group(object_id)
