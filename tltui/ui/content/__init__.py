"""Lesson content that is data, read from ``lessons/``: the checks' questions, the quadrant quiz's
scenarios, and the real experiments behind both."""
