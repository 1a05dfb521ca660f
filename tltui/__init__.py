"""tltui: a terminal tutor for transfer learning."""

__version__ = "0.1.0"
