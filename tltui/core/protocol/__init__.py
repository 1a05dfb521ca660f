"""The messages between the UI and the worker: one JSON object per line, typed and validated.

Pure Python (msgspec only): imported by the UI, the worker and the headless CLI alike.

Client to worker: requests, each with an ``id``. Worker to client: one ``hello`` when the
connection opens, a ``reply`` or ``error`` per request, and ``event`` messages that wrap one run
event each. Run events carry the run id and a per-run sequence number; the same event objects are
the lines of a run's ``events.jsonl`` and of ``tltui train --json``.

One module per part, imported from where it is defined (this package re-exports nothing):
``config`` (the run config and its validation), ``events`` (run events), ``requests`` (client to
worker), ``replies`` (what each request is answered with), ``messages`` (worker to client: hello,
reply, error, event, working), ``codec`` (lines to and from those types) and ``ranks`` (the lines the
processes of a several-process run write for the worker).
"""
