"""In-process vLLM batch generation on a GPU (``--backend vllm --llm <HF id or local dir>``).

vLLM gains its speed from continuous batching, so sending one prompt at a time wastes it
(vllm-project/vllm#1636). The runner still calls :meth:`complete` once per request; this
backend gathers the calls that arrive together and hands them to ``LLM.chat`` as one batch.
``vllm`` is imported only when this backend is chosen: it is a CUDA build, never a CI
dependency (docs/TEXTGEN.md, "vLLM in-process (GPU)"). Not exercised by the test suite, which has no GPU.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

from crossglg.errors import UserError
from crossglg.textgen.backends.base import Backend, ChatRequest, Completion, StopRun

BATCH_WINDOW_S = 0.05


class VLLMBackend(Backend):
    kind = "vllm"
    json_mode = "json_schema"
    max_concurrency = None  # the runner's --concurrency is the batch size; set it high (e.g. 256)

    def __init__(self, model: str, **engine_args: Any) -> None:
        if importlib.util.find_spec("vllm") is None:
            raise UserError("vllm is not installed: pip install 'crossglg[vllm]' on a GPU machine")
        self.model = model
        self.revision = ""  # the model id names the weights; the engine version is not part of the key
        self._engine_args = engine_args
        self._llm: Any = None
        self._pending: list[tuple[ChatRequest, asyncio.Future[Completion]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._engine_lock = asyncio.Lock()

    def _generate(self, batch: list[ChatRequest]) -> list[Completion]:
        from vllm import LLM, SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        if self._llm is None:
            self._llm = LLM(model=self.model, **self._engine_args)
        params = [
            SamplingParams(
                temperature=r.temperature,
                top_p=r.top_p,
                max_tokens=r.max_tokens,
                seed=r.seed,  # V1 defaults to seed 0: without this, samples would be identical
                structured_outputs=StructuredOutputsParams(json=r.schema),
            )
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

    async def _flush_later(self) -> None:
        await asyncio.sleep(BATCH_WINDOW_S)
        batch, self._pending, self._flusher = self._pending, [], None
        try:
            async with self._engine_lock:  # one batch at a time: the engine is not thread-safe
                results = await asyncio.to_thread(self._generate, [r for r, _ in batch])
        except Exception as err:  # an engine failure (e.g. out of GPU memory) ends the run cleanly
            for _, fut in batch:
                fut.set_exception(StopRun(f"vLLM engine error: {err}"))
            return
        for (_, fut), result in zip(batch, results, strict=True):
            fut.set_result(result)

    async def complete(self, request: ChatRequest, timeout: float) -> Completion:
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_later())
        return await future
