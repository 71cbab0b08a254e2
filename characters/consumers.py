"""The websocket relay of a character's training progress, after an access check: another
team's character is closed as if it did not exist."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from characters import progress, selectors
from generation.consumers import RelayConsumer


class CharacterConsumer(RelayConsumer):
    @database_sync_to_async
    def allowed(self, user: Any, object_id: int) -> bool:
        return selectors.user_can_see_character(user=user, character_id=object_id)

    def group_name(self, object_id: int) -> str:
        return progress.character_group(object_id)
