"""Widgets of the tutor: lesson view pieces and the live widgets lessons embed."""
