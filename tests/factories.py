"""factory_boy factories for the platform's models."""

from __future__ import annotations

import factory

from accounts import services
from accounts.models import Team, User
from billing.models import Plan
from generation import services as render_services
from generation.models import RenderJob
from generation.requests import RenderRequest


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    display_name = factory.Sequence(lambda n: f"User {n}")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-42")

    @factory.post_generation
    def save_password(obj: User, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            obj.save()


def team_with_owner(*, plan_code: str = "free", name: str = "Team") -> tuple[Team, User]:
    """A team created through the service (so it has an account and its monthly grant)."""
    owner = UserFactory()
    team = services.team_create(name=name, owner=owner, plan=Plan.objects.get(code=plan_code))
    return team, owner


def submit_one(*, team: Team, user: User, request: RenderRequest, **kwargs: object) -> RenderJob:
    """One take, through the same quote and submit as every render."""
    submitted = render_services.render_submit(team=team, user=user, request=request, **kwargs)  # type: ignore[arg-type]
    return submitted.jobs[0]
