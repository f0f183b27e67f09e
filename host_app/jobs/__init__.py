"""Durable background jobs shared by the host and every plugin."""

from host_app.jobs.queue import JobQueue
from host_app.jobs.runner import JobRunner

__all__ = ["JobQueue", "JobRunner"]
