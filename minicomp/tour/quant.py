"""The tour's quantization rows: integers, learned steps, number formats, codebooks.

- ``ptq8_tensor``, ``ptq8_channel`` -- post-training int8 (Jacob et al.
  2018): symmetric weights, one scale per tensor or per output channel,
  uint8 activations calibrated (min-max) on training rows; the
  integer-only model of :func:`minicomp.deploy.to_inference`;
- ``gptq4`` -- GPTQ (Frantar et al. 2023), 4-bit weights per channel, A8;
- ``adaround4`` -- AdaRound (Nagel et al. 2020), learned rounding, 4 bits, A8;
- ``lsq3`` -- LSQ (Esser et al. 2020), 3-bit weights and activations with
  learned steps, fine-tuned;
- ``fp8``, ``mxfp4``, ``nf4`` -- FP8 E4M3 with a scale per row, OCP MXFP4
  (E2M1, an E8M0 scale per 32), QLoRA's NF4 (Dettmers et al. 2023),
  post-training, no data;
- ``ternary`` -- BitNet b1.58 (Ma et al. 2024): :math:`\\gamma\\,
  \\mathrm{round}(W/\\gamma)` clipped to {-1, 0, 1}, trained with the
  identity straight-through gradient, then stored as ternary;
- ``kmeans`` -- Deep Compression's trained quantization (Han et al. 2016):
  :math:`2^b` shared values per layer by k-means, centroids fine-tuned,
  indices Huffman-coded; :math:`b` chosen on validation.
"""
from __future__ import annotations

from ..deploy import to_inference
from ..ptq import adaround_mlp, gptq_mlp
from ..quant import finetune_centroids, kmeans_quantize, quantize_mlp
from ..quant.lsq import lsq_finetune
from .registry import Candidate, technique


def _calibration(ctx):
    return ctx.X[:ctx.config.calibration]                  # (N_cal, in) training rows


@technique("ptq8_tensor", "int8 PTQ, per tensor")
def ptq8_tensor(ctx) -> Candidate:
    return Candidate(to_inference(quantize_mlp(ctx.net, _calibration(ctx), 8, 8, "tensor")),
                     choice="W8A8, integer kernels")


@technique("ptq8_channel", "int8 PTQ, per channel")
def ptq8_channel(ctx) -> Candidate:
    return Candidate(to_inference(quantize_mlp(ctx.net, _calibration(ctx), 8, 8, "channel")),
                     choice="W8A8, integer kernels")


@technique("gptq4", "GPTQ 4-bit")
def gptq4(ctx) -> Candidate:
    return Candidate(gptq_mlp(ctx.net, _calibration(ctx), 4, 8), choice="W4A8 per channel")


@technique("adaround4", "AdaRound 4-bit")
def adaround4(ctx) -> Candidate:
    iters = ctx.quick(ctx.config.adaround_iters, 100)
    return Candidate(adaround_mlp(ctx.net, _calibration(ctx), 4, 8, iters=iters,
                                  seed=ctx.seed), choice=f"W4A8, {iters} iterations")


@technique("lsq3", "LSQ 3-bit (QAT)")
def lsq3(ctx) -> Candidate:
    epochs = ctx.quick(max(1, ctx.config.fine_tune_epochs // 2), 3)
    model, _ = lsq_finetune(ctx.copy(), ctx.X, ctx.y, 3, 3, epochs=epochs, lr=0.01,
                            seed=ctx.seed)
    return Candidate(model, choice=f"W3A3, {epochs} epochs")


@technique("fp8", "FP8 E4M3")
def fp8(ctx) -> Candidate:
    return Candidate(ctx.net, "fp8_e4m3", choice="scale per row, no data")


@technique("mxfp4", "MXFP4")
def mxfp4(ctx) -> Candidate:
    return Candidate(ctx.net, "mxfp4", choice="E2M1, E8M0 scale per 32, no data")


@technique("nf4", "NF4")
def nf4(ctx) -> Candidate:
    return Candidate(ctx.net, "nf4", choice="blocks of 64, double quantization, no data")


@technique("ternary", "ternary (QAT)")
def ternary(ctx) -> Candidate:
    net, epochs = ctx.copy(), ctx.quick(ctx.config.fine_tune_epochs, 5)
    lsq_finetune(net, ctx.X, ctx.y, 2, None, weights="ternary", epochs=epochs, lr=0.01,
                 seed=ctx.seed)                           # trains net's latent weights
    return Candidate(net, "ternary", choice=f"{{-1, 0, 1}} x gamma, {epochs} epochs")


@technique("kmeans", "k-means + Huffman")
def kmeans(ctx) -> Candidate:
    def build(bits):
        shared = kmeans_quantize(ctx.net, bits)
        finetune_centroids(shared, ctx.X, ctx.y, epochs=ctx.quick(10, 3), lr=0.01,
                           seed=ctx.seed)
        return shared
    return ctx.pick(ctx.quick((2, 3, 4, 5), (3,)), build, "huffman",
                    lambda b: f"{2**b} centroids per layer")
