"""Dialogs over a screen: the LR finder and the diagnosis of the training screen's data."""
