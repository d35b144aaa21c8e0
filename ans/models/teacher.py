"""The non-causal FastSpeech-style teacher: Conv1d stacks around bidirectional LSTMs.

Encoder: n_enc x (Conv1d k, same padding -> norm -> ReLU -> dropout) over time, then a BLSTM.
Decoder: n_dec x the same conv block, a BLSTM, Linear -> 961, Sigmoid. Sees the whole
utterance (both directions), so it is a labeller for distillation, not a streaming model.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvBlock(nn.Module):
    """Conv1d over time with same padding, then LayerNorm/BatchNorm, ReLU and dropout."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dropout: float, norm: str):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2)
        if norm not in ("layer", "batch"):
            raise ValueError(f"norm must be 'layer' or 'batch', got {norm!r}")
        self.norm = nn.LayerNorm(c_out) if norm == "layer" else nn.BatchNorm1d(c_out)
        self.is_layer = norm == "layer"
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        y = self.conv(x)
        y = self.norm(y.transpose(1, 2)).transpose(1, 2) if self.is_layer else self.norm(y)
        return self.drop(torch.relu(y))


class Teacher(nn.Module):
    def __init__(self, input_dim: int = 120, output_dim: int = 961, channels: int = 384,
                 kernel: int = 5, n_enc: int = 3, n_dec: int = 5, lstm_hidden: int = 256,
                 dropout: float = 0.1, norm: str = "batch"):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError("kernel must be odd for same padding")
        enc = [ConvBlock(input_dim if i == 0 else channels, channels, kernel, dropout, norm)
               for i in range(n_enc)]
        self.encoder = nn.Sequential(*enc)
        self.enc_lstm = nn.LSTM(channels, lstm_hidden, batch_first=True, bidirectional=True)
        dec = [ConvBlock(2 * lstm_hidden if i == 0 else channels, channels, kernel, dropout, norm)
               for i in range(n_dec)]
        self.decoder = nn.Sequential(*dec)
        self.dec_lstm = nn.LSTM(channels, lstm_hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * lstm_hidden, output_dim)

    streamable = False

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, input_dim) -> mask (B, T, output_dim)."""
        x = self.encoder(feats.transpose(1, 2)).transpose(1, 2)
        x, _ = self.enc_lstm(x)
        x = self.decoder(x.transpose(1, 2)).transpose(1, 2)
        x, _ = self.dec_lstm(x)
        return torch.sigmoid(self.out(x))

    def macs_per_frame(self) -> int:
        """Approximate multiply-adds per frame (convs, LSTM gates, output layer)."""
        total = 0
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                total += m.in_channels * m.out_channels * m.kernel_size[0]
            elif isinstance(m, nn.LSTM):
                total += 2 * 4 * m.hidden_size * (m.input_size + m.hidden_size)
            elif isinstance(m, nn.Linear):
                total += m.in_features * m.out_features
        return total
