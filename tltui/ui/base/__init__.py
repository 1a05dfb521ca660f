"""What the widgets, lesson pieces and dialogs share: the live frame and the dialog box, the base of what
starts runs, the picture panel, the theme's colours and the choice of backbone."""
