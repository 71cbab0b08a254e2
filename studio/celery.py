"""The Celery application: one broker (Redis), two queues.

``default`` carries light work (credit cycles, exports); ``gpu`` carries renders and
adapter training, with priorities from the team's plan.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

app = Celery("studio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (
    Queue("default", routing_key="default"),
    Queue("gpu", routing_key="gpu", queue_arguments={"x-max-priority": 9}),
)
app.autodiscover_tasks()
