"""Built-in kinds of batch/v1."""

from kubeloop.resources._kind import Kind

__all__ = ["CronJob", "Job"]

Job = Kind("batch", "v1", "Job", "jobs")
CronJob = Kind("batch", "v1", "CronJob", "cronjobs")
