"""The tables of schema version 1 (docs/CACHE.md, "What is in the file"); later versions are migrations on top of it.

These statements are migration 1 of :mod:`crossglg.cache.migrations` and stay as they are:
a change to the layout is a new migration, never an edit here. Every statement is
idempotent (``IF NOT EXISTS``) so several processes may race to create the same new file:
the first ``BEGIN IMMEDIATE`` wins, the others find the tables there.
"""

from __future__ import annotations

from crossglg.cache.records import STATUSES

FORMAT_NAME = "crossglg-cache"
PAGE_SIZE = 16384

TABLES: dict[str, str] = {
    "meta": """
        CREATE TABLE IF NOT EXISTS meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
    "runs": """
        CREATE TABLE IF NOT EXISTS runs (
            run_id TEXT PRIMARY KEY,
            command TEXT NOT NULL,
            args_json TEXT,
            tool_version TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            n_requests INTEGER NOT NULL DEFAULT 0,
            n_cache_hits INTEGER NOT NULL DEFAULT 0,
            n_failed INTEGER NOT NULL DEFAULT 0,
            tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            host TEXT
        )""",
    "prompts": """
        CREATE TABLE IF NOT EXISTS prompts (
            prompt_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            version_label TEXT,
            template TEXT NOT NULL
        )""",
    "requests": """
        CREATE TABLE IF NOT EXISTS requests (
            request_key TEXT PRIMARY KEY,
            backend TEXT NOT NULL,
            model TEXT NOT NULL,
            model_revision TEXT,
            messages_json TEXT NOT NULL,
            params_json TEXT NOT NULL,
            schema_json TEXT,
            sample_index INTEGER NOT NULL DEFAULT 0,
            seed INTEGER,
            prompt_id TEXT REFERENCES prompts(prompt_id),
            created_run TEXT REFERENCES runs(run_id),
            created_at TEXT NOT NULL
        )""",
    "texts": """
        CREATE TABLE IF NOT EXISTS texts (
            text_id INTEGER PRIMARY KEY,
            sha256 BLOB NOT NULL UNIQUE,
            text TEXT NOT NULL,
            n_chars INTEGER NOT NULL
        )""",
    "generations": f"""
        CREATE TABLE IF NOT EXISTS generations (
            request_key TEXT PRIMARY KEY REFERENCES requests(request_key),
            status TEXT NOT NULL CHECK (status IN
                ({", ".join(f"'{s}'" for s in STATUSES)})),
            text_id INTEGER REFERENCES texts(text_id),
            parsed_json TEXT,
            finish_reason TEXT,
            resolved_model TEXT,
            system_fingerprint TEXT,
            tokens_input INTEGER,
            tokens_cached INTEGER,
            tokens_output INTEGER,
            tokens_reasoning INTEGER,
            cost_usd REAL,
            mode TEXT NOT NULL DEFAULT 'online',
            latency_ms REAL,
            completed_at TEXT NOT NULL,
            run_id TEXT REFERENCES runs(run_id),
            raw_response BLOB
        )""",
    "attempts": """
        CREATE TABLE IF NOT EXISTS attempts (
            attempt_id INTEGER PRIMARY KEY,
            request_key TEXT NOT NULL REFERENCES requests(request_key),
            run_id TEXT REFERENCES runs(run_id),
            attempt_no INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            duration_ms REAL,
            http_status INTEGER,
            error_type TEXT,
            error_message TEXT,
            retry_after_s REAL,
            batch_id TEXT
        )""",
    "items": """
        CREATE TABLE IF NOT EXISTS items (
            dataset TEXT NOT NULL,
            class_id INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('global', 'part', 'joint')),
            slot TEXT NOT NULL,
            sample_index INTEGER NOT NULL,
            source TEXT NOT NULL,
            class_name TEXT NOT NULL,
            request_key TEXT NOT NULL REFERENCES requests(request_key),
            text_id INTEGER NOT NULL REFERENCES texts(text_id),
            key_body_parts TEXT,
            PRIMARY KEY (dataset, class_id, kind, slot, sample_index, source)
        )""",
    "embedders": """
        CREATE TABLE IF NOT EXISTS embedders (
            embedder_id TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            revision TEXT,
            dim INTEGER NOT NULL,
            dtype TEXT NOT NULL CHECK (dtype IN ('f4', 'f2')),
            normalized INTEGER NOT NULL,
            max_tokens INTEGER,
            prefix TEXT,
            config_json TEXT NOT NULL
        )""",
    "embeddings": """
        CREATE TABLE IF NOT EXISTS embeddings (
            id INTEGER PRIMARY KEY,
            text_id INTEGER NOT NULL REFERENCES texts(text_id),
            embedder_id TEXT NOT NULL REFERENCES embedders(embedder_id),
            vector BLOB NOT NULL,
            n_tokens INTEGER,
            truncated INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            run_id TEXT REFERENCES runs(run_id),
            UNIQUE (text_id, embedder_id)
        )""",
}

INDEXES = (
    "CREATE INDEX IF NOT EXISTS requests_model ON requests(backend, model)",
    "CREATE INDEX IF NOT EXISTS requests_prompt ON requests(prompt_id)",
    "CREATE INDEX IF NOT EXISTS generations_status ON generations(status)",
    "CREATE INDEX IF NOT EXISTS attempts_request ON attempts(request_key)",
    "CREATE INDEX IF NOT EXISTS items_request ON items(request_key)",
    "CREATE INDEX IF NOT EXISTS items_text ON items(text_id)",
    "CREATE INDEX IF NOT EXISTS embeddings_embedder ON embeddings(embedder_id)",
)
