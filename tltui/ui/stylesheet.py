"""Textual's stylesheet, keeping what it has parsed while the CSS variables stay the same.

Textual reparses every CSS source in a fresh stylesheet when a screen of a mode is first shown, and
``set_variables`` empties the parse cache even when the variables it is given are the ones it has. So the
tutor's first frame waited for App's, Screen's and Widget's CSS to be parsed three times (the bare app
parses them once). A parse with the same variables gives the same rules, so both keep the cache.
"""

from __future__ import annotations

from textual.css.stylesheet import Stylesheet


class KeptStylesheet(Stylesheet):
    """A stylesheet whose reparse reuses the rules parsed with the same variables."""

    def set_variables(self, variables: dict[str, str]) -> None:
        if variables != self._variables:  # (a new theme: everything is parsed again)
            super().set_variables(variables)

    def reparse(self) -> None:
        """Parse every source again, the unchanged ones from the cache (``parse`` keeps the old rules
        when a source has errors, as Textual's fresh stylesheet does)."""
        self.parse()
