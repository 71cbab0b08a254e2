"""The Celery application: one broker (Redis), two queues.

``default`` carries light work (credit cycles, exports); ``gpu`` carries renders and
adapter training, with priorities from the team's plan.
"""

from __future__ import annotations

import os
import warnings

from celery import Celery
from celery.exceptions import SecurityWarning
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")

# Celery warns on every start of a worker running as root. The embedded stack often runs in a
# root container; runstack says so once instead (a worker still refuses pickle as root).
if os.environ.get("DAILIES_ROOT_NOTED") == "1":
    warnings.filterwarnings("ignore", category=SecurityWarning)

app = Celery("studio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (
    Queue("default", routing_key="default"),
    Queue("gpu", routing_key="gpu", queue_arguments={"x-max-priority": 9}),
)
app.autodiscover_tasks()
