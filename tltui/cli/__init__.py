"""The command line: ``tltui`` and its commands. Imports Textual or the worker only when a command
needs them, and the engine never: training runs in the worker."""
