"""Skeleton encoders (InfoGCN, ST-GCN, CTR-GCN) and the CrossGLG modules; see docs/MODELS.md."""

from crossglg.models.config import EncoderConfig, JIDConfig, L2GConfig, LossConfig, ModelConfig
from crossglg.models.model import CrossGLG, ModelOutput, SkeletonBranch, build_inference_model, build_model

__all__ = [
    "CrossGLG",
    "EncoderConfig",
    "JIDConfig",
    "L2GConfig",
    "LossConfig",
    "ModelConfig",
    "ModelOutput",
    "SkeletonBranch",
    "build_inference_model",
    "build_model",
]
