"""The Textual tutor: app, screens, widgets and its link to the worker. Never imports torch."""
