#!/usr/bin/env python3
"""PyTorch reference of the two-level Med-NCA of package nca.

The model, loss and training step follow notes on the Go model exactly
(reflect padding, two 3x3 perception convolutions, 48->128->16 update rule
without output bias, fire mask, image channel reset after every step,
4x average-pool level 1, nearest upsampling, random patch for level 2,
0.7 Dice + 0.3 focal loss, Adam). It has two uses:

  bench   time one training iteration and one inference, to compare the Go
          backends with PyTorch on the same machine;
  check   run inference with weights exported by the Go code and print the
          probabilities (and, given a mask, the loss and its gradients) as
          JSON, so a Go test can compare both implementations.
  matmul  measure matrix-product throughputs: a large square product (the
          peak), the update rule's first layer and the whole update rule.

Examples:
  python3 bench/torch_mednca.py bench --threads 2 --reps 5
  python3 bench/torch_mednca.py bench --device cuda --compile
  python3 bench/torch_mednca.py check weights.json input.json > out.json
"""

import argparse
import json
import math
import os
import platform
import resource
import statistics
import sys
import time

# OpenMP threads that spin while waiting for each other (the default,
# ACTIVE) lose most of their time when other processes share the cores:
# a 3x3 convolution ran 15x slower on a busy two-core machine. PASSIVE
# sleeps instead; it must be set before torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

CHANNELS = 16
HIDDEN = 128
LEVELS = ("level1", "level2")


# ---------------------------------------------------------------- model


def init_params(generator, device):
    """Returns the variables of both levels, named like the Go store, in the
    Go layouts (HWIO convolutions, [in,out] dense), initialised like
    PyTorch's defaults: uniform in +-1/sqrt(fan_in), dense_out zero."""

    def uniform(shape, fan_in):
        bound = 1.0 / math.sqrt(fan_in)
        return (torch.rand(shape, generator=generator) * 2 - 1) * bound

    params = {}
    for level in LEVELS:
        for conv in ("conv_a", "conv_b"):
            params[f"/{level}/{conv}/weights"] = uniform((3, 3, CHANNELS, CHANNELS), 9 * CHANNELS)
            params[f"/{level}/{conv}/biases"] = uniform((CHANNELS,), 9 * CHANNELS)
        params[f"/{level}/dense_in/weights"] = uniform((3 * CHANNELS, HIDDEN), 3 * CHANNELS)
        params[f"/{level}/dense_in/biases"] = uniform((HIDDEN,), 3 * CHANNELS)
        params[f"/{level}/dense_out/weights"] = torch.zeros((HIDDEN, CHANNELS))
    return {name: p.to(device).requires_grad_(True) for name, p in params.items()}


def level_weights(params, level):
    """Converts one level's Go-layout variables to the NCHW layouts conv2d
    wants: HWIO -> OIHW, dense [in,out] -> 1x1 convolution [out,in,1,1].
    conv_a and conv_b become one convolution with 2C outputs (conv_a's
    first): the same sums, and 20% faster training than two calls."""
    p = lambda name: params[f"/{level}/{name}"]
    return {
        "wab": torch.cat([p("conv_a/weights"), p("conv_b/weights")], dim=3).permute(3, 2, 0, 1),
        "bab": torch.cat([p("conv_a/biases"), p("conv_b/biases")]),
        "w1": p("dense_in/weights").t()[:, :, None, None],
        "b1": p("dense_in/biases"),
        "w2": p("dense_out/weights").t()[:, :, None, None],
    }


def nca_step(state, image, w, fire_rate, generator):
    """One step of a level on state [B,C,H,W]; image [B,1,H,W] is written
    back into channel 0 afterwards."""
    padded = F.pad(state, (1, 1, 1, 1), mode="reflect")
    conv_ab = F.conv2d(padded, w["wab"], w["bab"])  # [conv_a, conv_b] channels
    perception = torch.cat([state, conv_ab], dim=1)
    hidden = F.relu(F.conv2d(perception, w["w1"], w["b1"]))
    update = F.conv2d(hidden, w["w2"])
    if fire_rate < 1.0:
        b, _, h, wd = state.shape
        noise = torch.rand((b, 1, h, wd), generator=generator, device=state.device)
        update = update * (noise < fire_rate).to(update.dtype)
    state = state + update
    return torch.cat([image, state[:, 1:]], dim=1)


def run_level(state, image, w, steps, fire_rate, generator, step=nca_step):
    for _ in range(steps):
        state = step(state, image, w, fire_rate, generator)
    return state


def crop(x, offsets, p):
    """Cuts one PxP patch per sample out of x [B,C,H,W] (or [B,H,W]) at
    offsets [B,2] (row, column), as tensors so torch.compile sees no
    Python numbers that change between iterations."""
    ar = torch.arange(p, device=x.device)
    rows = (offsets[:, 0:1] + ar)[:, :, None]  # [B,P,1]
    cols = (offsets[:, 1:2] + ar)[:, None, :]  # [B,1,P]
    batch = torch.arange(x.shape[0], device=x.device)[:, None, None]
    if x.dim() == 3:
        return x[batch, rows, cols]
    return x[batch, :, rows, cols].permute(0, 3, 1, 2)  # [B,P,P,C] -> [B,C,P,P]


def forward(params, image, cfg, generator, patch_offsets=None, step=nca_step):
    """Two-level forward pass on image [B,1,N,N]. With patch_offsets ([B,2]
    rows and columns) level 2 runs on PxP crops (training); without, on
    the whole image (inference). step is nca_step or a compiled version of
    it. With cfg["channels_last"] the states are stored channels-last
    (NHWC in memory, still indexed NCHW), the layout PyTorch's CPU
    convolutions are fastest in. Returns level-2 logits [B,h,w]."""
    scale = cfg["scale"]
    layout = torch.channels_last if cfg.get("channels_last") else torch.contiguous_format
    small = F.avg_pool2d(image, scale)
    b, _, hs, ws = small.shape
    state = torch.cat([small, small.new_zeros((b, CHANNELS - 1, hs, ws))], dim=1)
    state = state.contiguous(memory_format=layout)
    state = run_level(state, small, level_weights(params, "level1"),
                      cfg["steps1"], cfg["fire_rate"], generator, step)

    state = state.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    state = torch.cat([image, state[:, 1:]], dim=1)
    if patch_offsets is not None:
        state = crop(state, patch_offsets, cfg["patch"])
        image = state[:, :1]
    state = state.contiguous(memory_format=layout)
    state = run_level(state, image, level_weights(params, "level2"),
                      cfg["steps2"], cfg["fire_rate"], generator, step)
    return state[:, 1]


def loss_fn(logits, mask):
    """0.7 Dice loss (per sample, smoothed by 1) + 0.3 focal loss (gamma 2,
    alpha 0.8 on the lesion); logits and mask [B,h,w]."""
    p = torch.sigmoid(logits)
    dims = (1, 2)
    dice = (2 * (p * mask).sum(dims) + 1) / (p.sum(dims) + mask.sum(dims) + 1)
    dice_loss = (1 - dice).mean()
    bce = F.binary_cross_entropy_with_logits(logits, mask, reduction="none")
    pt = p * mask + (1 - p) * (1 - mask)
    alpha = 0.8 * mask + 0.2 * (1 - mask)
    focal = (alpha * (1 - pt) ** 2 * bce).mean()
    return 0.7 * dice_loss + 0.3 * focal


# ---------------------------------------------------------------- bench


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, warmup, reps):
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def synthetic_batch(cfg, batch, generator, device):
    """Images of smooth noise and masks of a disc, like a lesion."""
    n = cfg["size"]
    image = torch.rand((batch, 1, n, n), generator=generator)
    image = F.avg_pool2d(F.pad(image, (2, 2, 2, 2), mode="reflect"), 5, stride=1)
    yy, xx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    disc = (((yy - n / 2) ** 2 + (xx - n / 2) ** 2) < (n / 4) ** 2).float()
    mask = disc.expand(batch, n, n).contiguous()
    return image.to(device), mask.to(device)


def bench(args):
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    if args.flush_denormal and not torch.set_flush_denormal(True):
        raise SystemExit("--flush-denormal: this CPU cannot flush subnormal numbers to zero")
    # Weights and data come from a seeded generator; fire masks from the
    # global one of the device (torch.compile handles no Generator objects).
    cpu_gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    cfg = dict(size=args.size, scale=4, steps1=args.steps1, steps2=args.steps2,
               patch=args.patch, fire_rate=0.5, channels_last=args.layout == "channels_last")
    params = init_params(cpu_gen, device)
    optimizer = torch.optim.Adam(params.values(), lr=1e-3)
    image, mask = synthetic_batch(cfg, args.batch, cpu_gen, device)
    infer_image = image[:1]

    # torch.compile works on one step: a small graph compiled once per
    # state shape, reused 48 times per level.
    backend, step = "torch-eager", nca_step
    if args.compile:
        if not hasattr(torch, "compile"):
            raise SystemExit(f"torch {torch.__version__} has no torch.compile (needs 2.0+)")
        backend, step = "torch-compile", torch.compile(nca_step)

    def train_iter(offsets):
        optimizer.zero_grad(set_to_none=True)
        logits = forward(params, image, cfg, None, offsets, step)
        loss = loss_fn(logits, crop(mask, offsets, cfg["patch"]))
        loss.backward()
        optimizer.step()
        return loss

    def infer():
        with torch.no_grad():
            return torch.sigmoid(forward(params, infer_image, cfg, None, None, step))

    def random_offsets():
        high = cfg["size"] - cfg["patch"] + 1
        return torch.randint(0, high, (args.batch, 2), generator=cpu_gen).to(device)

    train_times = timed(lambda: train_iter(random_offsets()), device, args.warmup, args.reps)
    infer_times = timed(infer, device, args.warmup, args.reps)
    result = {
        "backend": backend,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "flush_denormal": args.flush_denormal,
        "config": dict(cfg, batch=args.batch),
        "layout": args.layout,
        "train_iter_s_median": statistics.median(train_times),
        "train_iter_s": train_times,
        "infer_s_median": statistics.median(infer_times),
        "infer_s": infer_times,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if device.type == "cuda":
        result["peak_gpu_bytes"] = torch.cuda.max_memory_allocated(device)
    print(json.dumps(result, indent=1))


def matmul(args):
    """Matrix-product throughputs, in GFLOP/s: a float32 product of two
    square matrices (the machine's peak as PyTorch's BLAS reaches it), the
    update rule's first layer for one level-2 training step,
    [B*P*P, 48] x [48, 128], and the whole update rule of that step, forward
    and backward, as the reference runs it (1x1 convolutions)."""
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    reps = max(args.reps, 10)
    n = args.square
    a, b = torch.rand((n, n), device=device), torch.rand((n, n), device=device)
    peak_s = statistics.median(timed(lambda: a @ b, device, 2, reps))

    rows = args.batch * args.patch * args.patch
    lhs = torch.rand((rows, 3 * CHANNELS), device=device)
    rhs = torch.rand((3 * CHANNELS, HIDDEN), device=device)
    first_s = statistics.median(timed(lambda: lhs @ rhs, device, 3, reps))

    layout = torch.channels_last if args.layout == "channels_last" else torch.contiguous_format
    shape = (args.batch, 3 * CHANNELS, args.patch, args.patch)
    perception = torch.rand(shape, device=device).contiguous(memory_format=layout).requires_grad_(True)
    w1 = (torch.rand((HIDDEN, 3 * CHANNELS, 1, 1), device=device) - 0.5).requires_grad_(True)
    b1 = torch.zeros(HIDDEN, device=device, requires_grad=True)
    w2 = (torch.rand((CHANNELS, HIDDEN, 1, 1), device=device) - 0.5).requires_grad_(True)
    d_update = torch.rand((args.batch, CHANNELS, args.patch, args.patch), device=device)
    d_update = d_update.contiguous(memory_format=layout)

    def update_rule():
        for t in (perception, w1, b1, w2):
            t.grad = None
        update = F.conv2d(F.relu(F.conv2d(perception, w1, b1)), w2)
        update.backward(d_update)

    rule_s = statistics.median(timed(update_rule, device, 2, reps))
    rule_flop = 3 * 2 * rows * (3 * CHANNELS * HIDDEN + HIDDEN * CHANNELS)
    print(json.dumps({
        "device": str(device), "threads": torch.get_num_threads(), "torch_version": torch.__version__,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "flush_denormal": args.flush_denormal,
        "peak_what": f"matmul [{n},{n}]x[{n},{n}] float32",
        "peak_gflops": 2 * n ** 3 / peak_s / 1e9,
        "what": f"matmul [{rows},{3 * CHANNELS}]x[{3 * CHANNELS},{HIDDEN}] float32",
        "seconds_median": first_s,
        "gflops": 2 * rows * 3 * CHANNELS * HIDDEN / first_s / 1e9,
        "update_rule_what": f"update rule forward and backward on {rows} cells ({args.layout})",
        "update_rule_gflops": rule_flop / rule_s / 1e9,
    }, indent=1))


# ---------------------------------------------------------------- check


def tensor_from_json(entry):
    return torch.tensor(entry["data"], dtype=torch.float32).reshape(entry["shape"])


def tensor_to_json(t):
    t = t.detach().cpu().float()
    return {"shape": list(t.shape), "data": t.reshape(-1).tolist()}


def check(args):
    """Inference (and optionally loss and gradients) on given weights and
    input; fire_rate 1.0 makes it deterministic."""
    torch.set_num_threads(args.threads)
    with open(args.weights) as f:
        raw = json.load(f)
    with open(args.input) as f:
        inp = json.load(f)
    params = {name: tensor_from_json(entry).requires_grad_(True) for name, entry in raw.items()}
    missing = [n for n in init_params(torch.Generator(), "cpu") if n not in params]
    if missing:
        raise SystemExit(f"{args.weights}: missing variables {missing}")

    image = tensor_from_json(inp["image"]).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
    n = image.shape[-1]
    cfg = dict(size=n, scale=inp.get("scale", 4), steps1=inp.get("steps1", 48),
               steps2=inp.get("steps2", 48), patch=n, fire_rate=inp.get("fire_rate", 1.0))
    generator = torch.Generator().manual_seed(inp.get("seed", 0))
    logits = forward(params, image, cfg, generator)
    out = {"probabilities": tensor_to_json(torch.sigmoid(logits)), "logits": tensor_to_json(logits)}
    if "mask" in inp:
        mask = tensor_from_json(inp["mask"])[..., 0]
        loss = loss_fn(logits, mask)
        out["loss"] = loss.item()
        loss.backward()
        out["gradients"] = {name: tensor_to_json(p.grad) for name, p in params.items()}
    json.dump(out, sys.stdout)
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("bench", "matmul"):
        p = sub.add_parser(mode)
        p.add_argument("--device", default="cpu", help="cpu or cuda")
        p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (CPU)")
        p.add_argument("--reps", type=int, default=5)
        p.add_argument("--warmup", type=int, default=1)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--size", type=int, default=128, help="image size N (N x N)")
        p.add_argument("--batch", type=int, default=8)
        p.add_argument("--patch", type=int, default=64, help="level-2 training patch size")
        p.add_argument("--steps1", type=int, default=48)
        p.add_argument("--steps2", type=int, default=48)
        p.add_argument("--compile", action="store_true", help="use torch.compile (torch 2.0+)")
        p.add_argument("--flush-denormal", action="store_true",
                       help="torch.set_flush_denormal(True): subnormal numbers become zero")
        p.add_argument("--layout", choices=("channels_last", "nchw"), default="channels_last",
                       help="memory layout of the NCA state (channels_last is faster on CPUs)")
    sub.choices["matmul"].add_argument("--square", type=int, default=2048,
                                       help="side of the square matrices of the peak measurement")
    p = sub.add_parser("check")
    p.add_argument("weights", help="JSON of variables exported by the Go model")
    p.add_argument("input", help="JSON with image [B,N,N,1], optional mask, fire_rate, steps1, steps2")
    p.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    {"bench": bench, "matmul": matmul, "check": check}[args.mode](args)


if __name__ == "__main__":
    main()
