"""crossglg: one-shot skeleton action recognition guided by LLM text (CrossGLG, ECCV 2024)."""

__version__ = "0.1.0"
