"""The base of what starts runs on the worker and follows them: the race, the freeze board, the LR cascade,
the unfreezing timeline, the quiz's and the checks' experiments, and the training screen."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from textual import work

from tltui.core.client import WorkerError
from tltui.core.protocol.config import RunConfig
from tltui.ui.base import backbones
from tltui.ui.run_model import RunModel

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from tltui.ui.host import Tutor

    _Host = DOMNode  # what the mixin is mixed into: a widget or a screen
else:
    _Host = object


class RunOwner(_Host):
    """Mixin for a widget or screen that owns runs of the worker.

    While it is mounted it hears the worker start, say hello or stop (``worker_changed``, from the app's
    ``worker_signal``) and the news of the runs ``run_ids`` names (``runs_changed``, from the app's
    ``run_signal``); once it is gone it hears nothing, and nothing of the app holds it. ``start_run`` and
    ``cancel_runs`` tell a refusal, in the worker's words, to ``say``, which shows it in the owner's own
    place. An owner with a ``KEEP_AS`` name ``keep``s its last runs in the progress file, and its next
    instance (the lesson read again, the tutor restarted) finds them with ``kept`` and loads them with
    ``bring_back``.
    """

    app: Tutor
    STARTS_WORKER = True
    """Whether mounting starts the worker (an owner whose runs wait for a key may leave it idle)."""
    NOTHING_TO_CANCEL = "No run of this widget is going."
    """What cancelling says when none of the owned runs is going."""
    KEEP_AS = ""
    """The name its last runs are kept under in ``progress.runs``; '' keeps none."""

    def on_mount(self) -> None:
        """Textual calls this after the subclass's own ``on_mount``."""
        self.app.worker_signal.subscribe(self, lambda _state: self.worker_changed())
        self.app.run_signal.subscribe(self, self._heard)
        if self.STARTS_WORKER:
            self.app.link.ensure_started()

    def _heard(self, run_id: str) -> None:
        if run_id in self.run_ids():
            self.runs_changed()

    def run_ids(self) -> Collection[str]:
        """The ids of the runs this owner follows."""
        return ()

    def worker_changed(self) -> None:
        """The worker started, said hello or stopped."""

    def runs_changed(self) -> None:
        """One of ``run_ids`` has news."""

    def say(self, note: str) -> None:
        """Show why something did not happen (``note`` is in the worker's words)."""
        raise NotImplementedError

    def kept(self) -> dict[str, str]:
        """The runs (label -> run id) an earlier instance of this owner kept."""
        return dict(self.app.progress.runs.get(self.KEEP_AS, {})) if self.KEEP_AS else {}

    def keep(self, runs: dict[str, str]) -> None:
        """Keep ``runs`` (label -> run id) for the next instance of this owner (saved soon)."""
        if self.KEEP_AS:
            self.app.progress.runs[self.KEEP_AS] = dict(runs)
            self.app.save_progress()

    async def bring_back(self, runs: dict[str, str]) -> dict[str, str]:
        """``runs`` loaded from the worker's run store (which follows those still going), less those it no
        longer has; with no worker, none."""
        found = {}
        for label, run_id in runs.items():
            try:
                await self.app.link.load(run_id)
            except WorkerError:
                continue
            found[label] = run_id
        return found

    def owned_runs(self) -> list[RunModel]:
        """The models of ``run_ids`` that the link knows."""
        runs = self.app.link.runs
        return [runs[run_id] for run_id in self.run_ids() if run_id in runs]

    async def ready(self) -> bool:
        """Whether the worker has said hello (it is started if needed); if it cannot, that is said."""
        try:
            await self.app.link.ready()
        except WorkerError as error:
            self.say(f"The worker refused the run: {error}")
            return False
        return True

    async def start_run(self, config: RunConfig, refused: str = "The worker refused the run") -> RunModel | None:
        """``config`` started on the worker (started itself if needed); None if it refused, said as
        ``refused: why``."""
        try:
            return await self.app.link.start_run(config)
        except WorkerError as error:
            self.say(f"{refused}: {error}")
            return None

    async def start_pretrained(self, config: RunConfig) -> RunModel | None:
        """``start_run``, unless the worker lacks ``config.model``'s pretrained weights (said, with the key
        that helps)."""
        refusal = backbones.refusal(self.app.link, config.model)
        if refusal:
            self.say(refusal)
            return None
        return await self.start_run(config)

    async def cancel_runs(self) -> int | None:
        """Ask the worker to cancel the owned runs that are going: how many it is cancelling, None if none
        was going. A refusal is said, unless its run ended meanwhile."""
        going = [run for run in self.owned_runs() if run.running]
        cancelling = 0
        for run in going:
            try:
                await self.app.link.cancel(run.run_id)
                cancelling += 1
            except WorkerError as error:
                if run.running:
                    self.say(str(error))
        return cancelling if going else None

    @work(group="cancel")
    async def action_cancel(self) -> None:
        """Cancel the owned runs that are going, or say that none is."""
        if await self.cancel_runs() is None:
            self.say(self.NOTHING_TO_CANCEL)


class KeptRuns(RunOwner):
    """A ``RunOwner`` whose runs are the table ``runs`` (label -> run id), kept under ``KEEP_AS``: mounted, it
    draws the last ones kept and brings them back from the worker's run store; it draws them again on each
    of their news and each change of the worker (the race, the backbone comparison)."""

    runs: dict[str, str]

    def on_mount(self) -> None:
        """Textual calls this after the subclass's own ``on_mount`` and before ``RunOwner``'s."""
        self.runs = self.kept()
        self.redraw()
        if self.runs:
            self._bring_back_kept()

    @work(group="kept-back")
    async def _bring_back_kept(self) -> None:
        kept = self.runs
        found = await self.bring_back(kept)
        if self.runs is kept:  # no new runs meanwhile
            self.runs = found
        self.redraw()

    def run_ids(self) -> Collection[str]:
        return self.runs.values()

    def worker_changed(self) -> None:
        self.redraw()

    def runs_changed(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Draw ``runs`` as the link knows them now."""
        raise NotImplementedError
