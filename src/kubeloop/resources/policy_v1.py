"""Built-in kinds of policy/v1."""

from kubeloop.resources._kind import Kind

__all__ = ["PodDisruptionBudget"]

PodDisruptionBudget = Kind("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets")
