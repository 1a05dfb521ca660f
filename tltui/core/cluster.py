"""The recipe for a cluster: a RunConfig as a plain PyTorch DDP script, the torchrun commands that run it on
one host or several, and a Slurm batch file (pure text: no torch here).

The script is ``codegen``'s plain script made distributed the way the engine is (``engine/world.py``): one
process per GPU (NCCL), or per CPU share (gloo) where there is none, started by ``torchrun``, which gives
each its RANK, WORLD_SIZE and LOCAL_RANK; ``BATCH_SIZE`` is the global batch, each process taking
``BATCH_SIZE // WORLD_SIZE`` of it through a DistributedSampler seeded with ``SEED`` (``set_epoch`` every
epoch); DistributedDataParallel averages the gradients, made again when a frozen group joins (it takes
the parameters that require grad when it is made); each process validates a contiguous shard of the
validation set and the counts are summed; rank 0 alone prints and saves ``best.pt`` / ``last.pt``, plain
state_dicts (the model inside DDP, so no ``module.`` prefix). The rest is the plain script's, shared with
``codegen``: the backbone and its weights, the data (for a named set, rank 0 downloads it before the others
read it), the command line.

What tltui does itself is one host: the worker starts torchrun with ``--standalone``. Across hosts the
cluster's own tools take over: the same script under ``torchrun --nnodes N --rdzv-backend c10d`` on every
node, or under Slurm's ``srun``, which starts that command once per node.
"""

from __future__ import annotations

import shlex
import textwrap

from tltui.core import backbones, codegen
from tltui.core.backbones import Preprocessing
from tltui.core.codegen import WIDTH
from tltui.core.protocol.config import RunConfig

PORT = 29500
"""The rendezvous port on the first node (torchrun's usual one)."""


def per_node(config: RunConfig) -> str:
    """torchrun's ``--nproc-per-node``: the run's processes, or ``gpu`` (one per GPU) for ``--nproc all``
    and for a run of one process (on a cluster node the GPUs are the point)."""
    return str(config.nproc) if config.nproc > 1 else "gpu"


def torchrun_commands(config: RunConfig, script: str, nnodes: int, data: str = "") -> list[str]:
    """The commands that run ``script``: on one host, and on each of ``nnodes`` nodes (c10d rendezvous at
    the first node, ``HEAD``); ``data`` as ``codegen.generate`` takes it."""
    data = shlex.quote(codegen.data_folder(config, data))
    one = f"torchrun --standalone --nproc-per-node {per_node(config)} {script} {data}"
    many = (f"torchrun --nnodes {nnodes} --nproc-per-node {per_node(config)} --rdzv-backend c10d "
            f"--rdzv-endpoint HEAD:{PORT} --rdzv-id tltui-finetune {script} {data}")
    return [one, many]


def generate_ddp(config: RunConfig, nnodes: int = 2, script: str = "finetune_ddp.py", data: str = "",
                 pre: Preprocessing | None = None) -> str:
    """The DDP script for ``config`` (one that passes ``check()``); ``data`` and ``pre`` as ``codegen.generate``
    takes them."""
    top = "\n\n".join((_header(config, nnodes, script, data), codegen.imports(config, distributed=True),
                        codegen.constants(config, distributed=True, data=data, pre=pre),
                        codegen.groups_table(config)))
    defs = (*codegen.model_defs(config), *codegen.data_defs(config, data), _loaders(config), _evaluate(),
            codegen.OPTIONS, _main(config), codegen.ENTRY)
    return "\n\n\n".join([top, *(d for d in defs if d)]) + "\n"


def generate_slurm(config: RunConfig, nnodes: int = 2, script: str = "finetune_ddp.py",
                   gpus_per_node: int = 8, data: str = "") -> str:
    """An ``sbatch`` file that runs ``script`` on ``nnodes`` nodes: ``srun`` starts torchrun once per node,
    and torchrun one process per GPU, all meeting at the first node (c10d rendezvous)."""
    nproc = config.nproc if config.nproc > 1 else gpus_per_node
    data = shlex.quote(codegen.data_folder(config, data))
    return textwrap.dedent(f"""\
        #!/bin/bash
        # Fine-tune as tltui does, on {nnodes} nodes of {nproc} GPUs: sbatch this file.
        # The same run in tltui, on one host: {codegen.command_line(config)}
        # {script} (tltui export --torchrun) must be in the directory you submit from;
        # DATA: a folder with train/ and val/, or of class folders (see {script}).
        #SBATCH --job-name=tltui-finetune
        #SBATCH --nodes={nnodes}
        #SBATCH --ntasks-per-node=1
        #SBATCH --gpus-per-node={nproc}
        #SBATCH --cpus-per-task={max(8, 8 * nproc)}
        #SBATCH --time=04:00:00
        #SBATCH --output=%x-%j.out

        set -euo pipefail
        DATA=${{DATA:-{data}}}
        HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)

        # One torchrun per node; each starts {nproc} processes and they meet at $HEAD.
        srun torchrun \\
            --nnodes "$SLURM_JOB_NUM_NODES" \\
            --nproc-per-node {nproc} \\
            --rdzv-backend c10d \\
            --rdzv-endpoint "$HEAD:{PORT}" \\
            --rdzv-id "$SLURM_JOB_ID" \\
            {script} "$DATA"
        """)


def _header(config: RunConfig, nnodes: int, script: str, data: str) -> str:
    lines = ["Fine-tune the way tltui does, over several processes (DDP).", ""]
    lines += textwrap.wrap(codegen.describe(config) + ".", WIDTH)
    lines += ["", "The same run in tltui (one host):"]
    lines += _wrapped(codegen.command_words(config))
    one, many = torchrun_commands(config, script, nnodes, data)
    lines += ["", "One host, one process per GPU (or N CPU processes with gloo", "where there is no GPU):"]
    lines += _wrapped(one.split(" "))
    lines += ["", f"{nnodes} nodes: on each, with HEAD the first node's address:"]
    lines += _wrapped(many.split(" "))
    lines += ["", *codegen.data_lines(config, data), ""]
    lines += textwrap.wrap("BATCH_SIZE is the global batch: each process takes BATCH_SIZE // WORLD_SIZE of it. "
                           "Rank 0 keeps the best epoch's weights in best.pt and the last in last.pt: "
                           + codegen.checkpoint_words(config) + " (no 'module.' prefix).", WIDTH)
    text = "\n".join(lines).replace('"""', '" " "')
    return f'r"""{text}\n"""'


def _wrapped(words: list[str]) -> list[str]:
    lines = ["    "]
    for word in words:
        if len(lines[-1]) + len(word) > WIDTH - 2 and lines[-1].strip():
            lines[-1] += "\\"
            lines.append("        ")
        lines[-1] += word + " "
    return [line.rstrip() for line in lines]


def _loaders(config: RunConfig) -> str:
    return (
        "def loaders(rank, world):\n"
        '    """The sets image_sets gives, normalised as ImageNet was for the\n'
        "    weights.\n"
        "    Training: each process its share of every global batch, in\n"
        "    an order the sampler draws from SEED and the epoch.\n"
        '    Validation: each process a contiguous shard."""\n'
        + codegen.image_folders(config, distributed=True) +
        "    sampler = DistributedSampler(train_set, world, rank, shuffle=True,\n"
        "                                 seed=SEED * 100_003)  # tltui's order\n"
        "    per = -(-len(val_set) // world)  # ceil\n"
        "    shard = range(min(rank * per, len(val_set)),\n"
        "                  min((rank + 1) * per, len(val_set)))\n"
        "    train = DataLoader(train_set, BATCH_SIZE // world, sampler=sampler,\n"
        "                       drop_last=True)\n"
        "    val = DataLoader(Subset(val_set, shard), 2 * BATCH_SIZE // world)\n"
        + ("    probe = DataLoader(probe_set, BATCH_SIZE)  # every image, in each\n"
           if config.head_first else "")
        + f"    return train, val, sampler, train_set.classes{', probe' if config.head_first else ''}"
    )


def _evaluate() -> str:
    return (
        "def evaluate(model, loader, device):\n"
        '    """Accuracy over the whole validation set: each process counts\n'
        '    its shard, the counts are added over all processes."""\n'
        "    model.eval()\n"
        "    counts = torch.zeros(2, device=device)  # correct, seen\n"
        "    with torch.no_grad():\n"
        "        for images, labels in loader:\n"
        "            labels = labels.to(device)\n"
        "            predicted = model(images.to(device)).argmax(1)\n"
        "            counts[0] += (predicted == labels).sum()\n"
        "            counts[1] += len(labels)\n"
        "    dist.all_reduce(counts)\n"
        "    return (counts[0] / counts[1]).item()"
    )


def _main(config: RunConfig) -> str:
    lines = [
        "def main():",
        *codegen.ARGUMENTS,
        "    # torchrun gives each process its RANK, WORLD_SIZE, LOCAL_RANK",
        '    gpu = torch.cuda.is_available()',
        *codegen.deterministic_lines(config),
        '    dist.init_process_group("nccl" if gpu else "gloo")',
        "    rank, world = dist.get_rank(), dist.get_world_size()",
        '    local = int(os.environ.get("LOCAL_RANK", 0))',
        '    device = torch.device(f"cuda:{local}" if gpu else "cpu")',
        "    if gpu:",
        "        torch.cuda.set_device(device)",
        "    if BATCH_SIZE % world:",
        '        sys.exit(f"BATCH_SIZE {BATCH_SIZE} must divide by {world}")',
        "    torch.manual_seed(SEED)  # the same start in every process",
        "    train_loader, val_loader, sampler, classes"
        + (", probe_loader" if config.head_first else "") + " = loaders(rank, world)",
        "    model, optimizer = build(len(classes), device=device,",
        "                             weights=args.weights)",
        *(["    fit_head(model, probe_loader, device)  # alike in every process"] if config.head_first else []),
        "    if SYNC_BN and gpu:",
        "        model = " + ("timm.layers.convert_sync_batchnorm(model)  # its norm-acts too"
                          if backbones.is_timm(config.model) else "nn.SyncBatchNorm.convert_sync_batchnorm(model)"),
        "    torch.manual_seed(SEED + 1 + rank)  # each its own augmentations",
        "",
        "    def wrap():  # DDP takes the parameters that train now",
        "        return DDP(model, device_ids=[local] if gpu else None)",
        "",
        "    ddp = wrap()",
        *codegen.loop_start(config),
        "        sampler.set_epoch(epoch)  # a new order each epoch, alike in all",
        *codegen.epoch_loop(config, forward="ddp", rejoin="ddp = wrap()  # again, with the groups that joined",
                            backward_note="  # DDP averages the gradients here"),
        "        if rank == 0:  # one process prints and saves",
        '            print(f"epoch {epoch}: val accuracy {accuracy:.1%}",',
        "                  flush=True)",
        "            if accuracy > best:  # keep the best epoch, not the last",
        "                best = accuracy",
        '                torch.save(model.state_dict(), "best.pt")',
        "    if rank == 0:",
        '        torch.save(model.state_dict(), "last.pt")',
        '        print(f"best val accuracy {best:.1%}: best.pt; last.pt")',
        "    dist.destroy_process_group()",
    ]
    return "\n".join(lines)
