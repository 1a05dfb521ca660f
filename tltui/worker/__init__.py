"""The worker side, without torch at import time: the daemon that owns the runs, the stdio bridge
to it, its sockets and the run store. The daemon imports the engine when it starts."""
