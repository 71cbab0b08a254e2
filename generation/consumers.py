"""Websocket relays for render progress. Access is checked before joining a group;
after that a consumer only forwards the HTML the worker pushed."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from generation import progress, selectors


class _RelayConsumer(AsyncWebsocketConsumer):
    group: str | None = None

    async def allowed(self, user, object_id: int) -> bool:
        raise NotImplementedError

    def group_name(self, object_id: int) -> str:
        raise NotImplementedError

    async def connect(self) -> None:
        user = self.scope.get("user")
        object_id = int(self.scope["url_route"]["kwargs"]["pk"])
        if user is None or not user.is_authenticated or not await self.allowed(user, object_id):
            await self.close(code=4404)  # another team's object: as if it did not exist
            return
        self.group = self.group_name(object_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def job_update(self, event: dict) -> None:
        await self.send(text_data=event["html"])


class RenderJobConsumer(_RelayConsumer):
    @database_sync_to_async
    def allowed(self, user, object_id: int) -> bool:
        return selectors.user_can_see_job(user=user, job_id=object_id)

    def group_name(self, object_id: int) -> str:
        return progress.job_group(object_id)


class ProjectConsumer(_RelayConsumer):
    @database_sync_to_async
    def allowed(self, user, object_id: int) -> bool:
        from storyboards.models import Project

        return Project.objects.filter(pk=object_id, team__memberships__user=user).exists()

    def group_name(self, object_id: int) -> str:
        return progress.project_group(object_id)
