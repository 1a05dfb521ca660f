"""One optimisation step, with the precision each device trains fastest at.

CUDA: bf16 autocast (fp16 with a GradScaler on GPUs without bf16). CPU and MPS: fp32.
The step returns device tensors and never synchronises; the caller reads them when it reports.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class TrainStep:
    """forward (under autocast) -> loss -> backward -> optimizer step. ``eval_forward`` (default: ``forward``)
    is what ``evaluate`` runs: the model without its DDP wrapper, whose forward is a collective."""

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], optimizer: torch.optim.Optimizer,
                 device: torch.device, label_smoothing: float = 0.0,
                 eval_forward: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.forward = forward
        self.eval_forward = eval_forward or forward
        self.optimizer = optimizer
        self.device = device
        self.dtype = autocast_dtype(device)
        self.label_smoothing = label_smoothing
        self.scaler = torch.amp.GradScaler("cuda") if self.dtype == torch.float16 else None

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean loss, number of correct predictions), both 0-d tensors on the device."""
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            logits = self.forward(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=self.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return loss.detach(), (logits.detach().argmax(1) == y).sum()

    @torch.inference_mode()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed loss, predictions) of a validation batch; the model must be in eval mode."""
        logits = self._logits(x)
        return F.cross_entropy(logits, y, reduction="sum"), logits.argmax(1)

    @torch.inference_mode()
    def evaluate_each(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(summed loss, predictions, softmax probabilities ``(N, 2)`` of each image's true and predicted
        class) of a validation batch; the model must be in eval mode."""
        logits = self._logits(x)
        predicted = logits.argmax(1)
        probabilities = logits.softmax(1)
        pair = torch.cat((probabilities.gather(1, y[:, None]), probabilities.gather(1, predicted[:, None])), 1)
        return F.cross_entropy(logits, y, reduction="sum"), predicted, pair

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            return self.eval_forward(x).float()
