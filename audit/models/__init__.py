"""Model adapters: every model kind is reached through ``ModelAdapter.predict_proba``."""

from audit.models.base import LoadedModel, ModelAdapter
from audit.models.loading import load_model

__all__ = ["LoadedModel", "ModelAdapter", "load_model"]
