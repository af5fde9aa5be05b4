"""Text embeddings: encoders named ``kind:model``, ``crossglg-text embed`` and the text bank.

Importing this package stays light (no torch, no transformers) so the CLI's ``--help`` is fast;
the encoders import their libraries when a model is actually loaded.
"""
