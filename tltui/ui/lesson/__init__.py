"""The lesson: its view, its prose, and the live pieces a lesson embeds with ```` ```tltui NAME ````."""
