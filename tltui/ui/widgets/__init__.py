"""The widgets the screens compose: the contents, the footer and top bar, the training form, the run
view, its chart and errors, the code view."""
