"""The fine-tuning engine: everything that imports torch. Only the worker imports it.

Importing this package asks OpenMP to let idle threads sleep (``OMP_WAIT_POLICY=PASSIVE``) unless the
environment says otherwise; it has to happen before torch loads. By default OpenMP's threads spin while
they wait, which is fine on an idle machine but, next to the UI or any other busy process on a small
CPU, made training 2 to 10 times slower in our measurements (2 cores, 2 torch threads).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
