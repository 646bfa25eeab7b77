#!/usr/bin/env python3
"""The PyTorch side of the README's comparison: the same LIF step as glifsim (and as the
reference library inferno-ai, which runs it eagerly), timed on the GPU.

    python3 scripts/pytorch_lif_bench.py [--sizes 1000000,16000000,64000000] [--steps 100]
                                         [--min-time 0.5]

Prints neuron-updates per second for eager PyTorch (one step per call, as inferno-ai runs it)
and for torch.compile with `--steps` steps captured in one CUDA graph (one replay per run).
One step, as MODELS.md orders it:
  r <- max(r - dt, 0); free = r == 0; I~ = I if free else 0
  V* = (((V - V_rest) - R I~) e_m + V_rest) + R I~; V' = V* if free else V
  s = free & (V' >= V_th); r <- t_ref where s; V <- V_reset where s
"""
import argparse, time
import torch

def lif_step(v, r, i, dt, v_rest, v_reset, v_th, t_ref, decay, res):
    r = torch.clamp(r - dt, min=0.0)
    free = r == 0
    ri = res * torch.where(free, i, torch.zeros_like(i))
    v_star = (((v - v_rest) - ri) * decay + v_rest) + ri
    v = torch.where(free, v_star, v)
    s = free & (v >= v_th)
    r = torch.where(s, torch.full_like(r, t_ref), r)
    v = torch.where(s, torch.full_like(v, v_reset), v)
    return v, r, s

def bench(n, steps, compiled, min_time):
    dev = "cuda"
    v = torch.full((n,), -65.0, device=dev)
    r = torch.zeros(n, device=dev)
    i = torch.full((n,), 16.0, device=dev)
    args = (0.1, -65.0, -70.0, -50.0, 2.0, float(torch.exp(torch.tensor(-0.1 / 20.0, dtype=torch.float64))), 1.0)

    if not compiled:
        # Eager, one step per call, as the reference library runs it.
        def run():
            nonlocal v, r
            for _ in range(steps):
                v, r, s = lif_step(v, r, i, *args)
            torch.cuda.synchronize()
    else:
        # torch.compile (Inductor fuses the step into one kernel), `steps` steps captured in
        # one CUDA graph, replayed once per run: no launch per step, as glifsim records many
        # steps per submission. The graph ends by copying the last state into v and r, so
        # that each replay continues from the last (one copy per `steps` steps).
        f = torch.compile(lif_step, dynamic=False)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                f(v, r, i, *args)  # compiles; capture needs a warmed-up function
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            vv, rr = v, r
            for _ in range(steps):
                vv, rr, s = f(vv, rr, i, *args)
            v.copy_(vv)
            r.copy_(rr)

        def run():
            graph.replay()
            torch.cuda.synchronize()

    # As glifsim's bench (--min-time): keep the GPU busy for min_time before timing, since it
    # idles at low clocks and takes a fraction of a second to raise them, then repeat the timed
    # run for min_time and keep the fastest.
    run()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < min_time:
        run()
    best, timed = float("inf"), 0.0
    while timed < min_time or best == float("inf"):
        t = time.perf_counter()
        run()
        e = time.perf_counter() - t
        best, timed = min(best, e), timed + e
    return n * steps / best

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1000000,16000000,64000000")
    p.add_argument("--steps", type=int, default=100, help="steps per timed run (and per CUDA graph)")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--min-time", type=float, default=0.5, help="seconds of warm-up, and of timed runs")
    a = p.parse_args()
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}")
    print(f"{'neurons':>10} {'eager upd/s':>14} {'compiled upd/s':>16}")
    for n in map(int, a.sizes.split(",")):
        eager = bench(n, a.steps, False, a.min_time)
        comp = float("nan")
        if not a.no_compile:
            try:
                comp = bench(n, a.steps, True, a.min_time)
            except Exception as e:  # e.g. out of memory capturing the graph at large n
                print(f"compiled at {n}: {type(e).__name__}: {str(e)[:200]}")
        torch.cuda.empty_cache()
        print(f"{n:>10} {eager:>14.3e} {comp:>16.3e}")

if __name__ == "__main__":
    main()
