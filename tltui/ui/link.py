"""The UI's one worker: started on demand, its runs kept as RunModels, its owner told of changes.

The link never touches widgets: it calls back its owner (the app, which publishes the news through
Textual's reactives and signals, so a widget that has gone simply stops hearing), and nothing here can
crash on a closed screen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal, TypeVar

from tltui.core.client import WorkerClient, WorkerError, WorkerGone
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.messages import Working
from tltui.core.protocol.replies import Capabilities, RunSummary
from tltui.core.protocol.requests import CancelRun, GetEvents, ListRuns, Request, StartDiagnosis, StartRun
from tltui.ui.run_model import RunModel

State = Literal["idle", "starting", "ready", "gone"]
R = TypeVar("R")


def _ignore(*_news: object) -> None:
    """No one is listening."""


class WorkerLink:
    """A worker child process for the whole app, and the runs it knows.

    Its owner hears three kinds of news: ``on_state`` (the worker is starting, ready or gone),
    ``on_run`` (a run's model changed: new events, lost with the worker, its status back from the run
    store; its id) and ``on_list`` (the list of runs changed: a run started, the store was read)."""

    def __init__(self, command: list[str], host: str | None = None, *,
                 on_state: Callable[[State], None] = _ignore, on_run: Callable[[str], None] = _ignore,
                 on_list: Callable[[], None] = _ignore) -> None:
        self.command = command
        self.host = host
        """The machine the worker runs on (``--remote``); None for this one."""
        self.state: State = "idle"
        self.capabilities: Capabilities | None = None
        self.error = ""
        self.runs: dict[str, RunModel] = {}
        self._client: WorkerClient | None = None
        self._ready: asyncio.Future[None] | None = None
        self._task: asyncio.Task | None = None
        self._on_state, self._on_run, self._on_list = on_state, on_run, on_list

    @property
    def pretrained_backbone(self) -> str:
        """The backbone whose pretrained weights the worker has: resnet50 (ImageNet), else tiny (its
        weights ship with tltui), else ''."""
        models = self.capabilities.models if self.capabilities else {}
        return next((m for m in ("resnet50", "tiny") if "pretrained" in models.get(m, ())), "")

    def has_pretrained(self, model: str) -> bool:
        """Whether the worker can start ``model`` from its own pretrained weights now."""
        models = self.capabilities.models if self.capabilities else {}
        return "pretrained" in models.get(model, ())

    def missing_weights(self, model: str) -> str:
        """Why ``model`` cannot start from pretrained weights on this worker, in one line; '' if it can."""
        if self.capabilities is None or self.has_pretrained(model):
            return ""
        caps = self.capabilities
        what = "ImageNet weights for ResNet-50" if model == "resnet50" else f"pretrained weights for {model}"
        return f"No {what} on {caps.host} (looked in {caps.weights_dir})"

    def describe(self) -> str:
        """One line for the status bar: where the worker runs, its device, torch, weights."""
        if self.state == "idle":
            return "worker: not started"
        if self.state == "starting":
            return "worker: starting…"
        if self.state == "gone":
            return f"worker stopped ({self.error[:40]}) · W restarts"
        caps = self.capabilities
        assert caps is not None  # ready: the hello brought them
        device = f"{caps.gpu_name} {caps.gpu_memory_gb:.0f} GB" if caps.gpu_name else "CPU"
        weights = "ImageNet ✓" if self.pretrained_backbone == "resnet50" else "no ImageNet"
        return f"● {caps.host} · {device} · torch {caps.torch_version.split('+')[0]} · {weights}"

    # -- the worker process ----------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start the worker if it is not running yet (not after it has gone: see ``restart``)."""
        if self.state == "idle":
            self._launch()

    def restart(self) -> None:
        """Start a fresh worker after the last one went away."""
        if self.state == "gone":
            self._launch()

    def _launch(self) -> None:
        self.state, self.error, self.capabilities = "starting", "", None
        self._ready = ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._serve(ready))
        self._on_state(self.state)

    async def _serve(self, ready: asyncio.Future[None]) -> None:
        client = self._client = WorkerClient(self.command, host=self.host)
        try:
            hello = await client.start()
            self.capabilities = hello.capabilities
            self.state = "ready"
            ready.set_result(None)
            self._on_state(self.state)
            await self._reattach()
            while (event := await client.events.get()) is not None:
                model = self.runs.setdefault(event.run_id, RunModel(event.run_id))
                if model.apply(event):
                    self._on_run(event.run_id)
            raise WorkerGone(client.gone)
        except WorkerError as error:
            self._gone(str(error))

    def _gone(self, reason: str) -> None:
        self.state, self.error = "gone", reason
        if self._ready and not self._ready.done():
            self._ready.set_exception(WorkerGone(reason))
            self._ready.exception()  # retrieved: nobody may be waiting
        for model in self.runs.values():
            if model.running:
                model.mark_lost(reason)
                self._on_run(model.run_id)
        self._on_state(self.state)

    async def ready(self) -> WorkerClient:
        """The client, once the worker has said hello (starting it if needed)."""
        self.ensure_started()
        if self.state == "gone":
            raise WorkerGone(self.error)
        assert self._ready is not None  # ensure_started made it
        await asyncio.shield(self._ready)
        assert self._client is not None
        return self._client

    def kill(self) -> None:
        """Stop the worker at once (tests use this to play a crash)."""
        if self._client:
            self._client.kill()

    async def close(self) -> None:
        """Let go of the worker: it finishes the runs it has, then exits on its own. No news after this."""
        self._on_state, self._on_run, self._on_list = _ignore, _ignore, _ignore
        if self._client:
            await self._client.close()
        if self._task:
            self._task.cancel()

    # -- requests ------------------------------------------------------------------------------

    async def request(self, request: Request[R],
                      working: Callable[[Working], None] | None = None) -> R:
        """``request``'s reply, once the worker is ready (started if needed); WorkerError if refused.
        ``working`` hears a short job's progress."""
        client = await self.ready()
        return await client.request(request, working)

    async def start_run(self, config: RunConfig) -> RunModel:
        """Start a run; its model fills in as its events arrive. WorkerError if refused."""
        started = await self.request(StartRun(config=config))
        model = self.runs.setdefault(started.run_id, RunModel(started.run_id, config=config))
        self._on_list()
        return model

    async def start_diagnosis(self, config: RunConfig, budget_s: float = 0.0) -> RunModel:
        """Start ``tltui diagnose`` on ``config``'s data; its model fills in as its events arrive."""
        started = await self.request(StartDiagnosis(config=config, budget_s=budget_s))
        model = self.runs.setdefault(started.run_id, RunModel(started.run_id, config=config))
        self._on_list()
        return model

    async def cancel(self, run_id: str) -> None:
        await self.request(CancelRun(run_id=run_id))

    async def refresh_runs(self) -> list[RunSummary]:
        """The worker's run store, as summaries; new runs get a model, runs lost with an earlier
        worker get their status back (from the replay of their last events, when they have any)."""
        summaries = await self.request(ListRuns())
        for summary in summaries:
            model = self.runs.get(summary.run_id)
            if model is None:
                self.runs[summary.run_id] = RunModel.from_summary(summary)
                continue
            model.summary = summary
            if model.lost and model.last_seq >= summary.last_seq:
                model.lost, model.status = "", summary.status
                self._on_run(summary.run_id)
        self._on_list()
        return summaries

    async def _reattach(self) -> None:
        """After (re)connecting: list the runs, and replay what the runs this UI shows missed."""
        summaries = await self.refresh_runs()
        for summary in summaries:
            model = self.runs[summary.run_id]
            behind = model.last_seq < summary.last_seq
            if summary.status == "running" or (behind and (model.lost or model.last_seq)):
                await self.load(summary.run_id)

    async def load(self, run_id: str) -> RunModel:
        """Fill a run's model with every event it has not seen (following the run if it goes on)."""
        model = self.runs.setdefault(run_id, RunModel(run_id))
        await self.request(GetEvents(run_id=run_id, after_seq=model.last_seq, follow=True))
        return model
