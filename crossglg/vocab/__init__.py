"""The vocabulary every layer shares: skeleton layouts, class lists, part sets, body-part words, protocols, input streams.

The ground floor of the package (docs/ARCHITECTURE.md, "Import directions"): data, prompts,
models, embeddings and cache all name joints, classes and protocols the same way by importing
them from here, and nothing here imports them back. Import the modules themselves
(``crossglg.vocab.layouts``, ``.classes``, ``.parts``, ``.body_words``, ``.protocols``,
``.streams``).
"""
