"""The websocket relay of one render job's progress. Access is checked before joining the
job's group; after that the consumer only forwards the HTML the worker pushed."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from generation import progress, selectors


class RelayConsumer(AsyncWebsocketConsumer):
    """Joins one group after an access check and relays its ``job.update`` messages.
    Subclasses say who may watch an object and which group carries it."""

    group: str | None = None

    async def allowed(self, user: Any, object_id: int) -> bool:
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

    async def job_update(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["html"])


class RenderJobConsumer(RelayConsumer):
    @database_sync_to_async
    def allowed(self, user: Any, object_id: int) -> bool:
        return selectors.user_can_see_job(user=user, job_id=object_id)

    def group_name(self, object_id: int) -> str:
        return progress.job_group(object_id)
